import { io, type Socket } from 'socket.io-client';
import { type Identity, generateIdentity, seal, sharedKey, signHello, updateContext } from '@fedlink/crypto';
import { EVENTS, type Hello, PROTOCOL_VERSION, type RoundStart, type Update, type Welcome, type TensorSpec, encodeTensors, fromBase64, toBase64 } from '@fedlink/protocol';

export type AckReply = { ok: true; [k: string]: unknown } | { ok: false; error: { code: string; message: string } };

/** A hand-driven protocol client for tests that need to send exactly the bytes they choose. */
export class RawClient {
  readonly identity: Identity;
  welcome: Welcome | undefined;
  shared: Uint8Array | undefined;
  readonly starts: RoundStart[] = [];
  readonly errors: { code: string; message: string }[] = [];
  private startWaiters: ((s: RoundStart) => void)[] = [];
  disconnected = false;

  private constructor(
    readonly socket: Socket,
    identity?: Identity,
  ) {
    this.identity = identity ?? generateIdentity();
    socket.on(EVENTS.roundStart, (msg: RoundStart, ack?: (r: unknown) => void) => {
      ack?.({ ok: true });
      this.starts.push(msg);
      this.startWaiters.splice(0).forEach((w) => w(msg));
    });
    socket.on(EVENTS.error, (e: { code: string; message: string }) => this.errors.push(e));
    socket.on('disconnect', () => (this.disconnected = true));
  }

  /** Pass an identity to come back as the same client (same key, new connection). */
  static async connect(url: string, identity?: Identity): Promise<RawClient> {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false });
    // Listeners first: a connection the coordinator refuses is closed right after it opens.
    const client = new RawClient(socket, identity);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
      socket.connect();
    });
    return client;
  }

  request(event: string, payload: unknown, timeoutMs = 10_000): Promise<AckReply> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<AckReply>;
  }

  async challenge(): Promise<Uint8Array> {
    const r = await this.request(EVENTS.challenge, {});
    if (!r.ok) throw new Error('challenge refused');
    return fromBase64(r.nonce as string);
  }

  /** A correctly signed hello for this connection, with optional overrides. */
  async signedHello(token: string | undefined, overrides: Partial<Hello> = {}): Promise<Hello> {
    const nonce = await this.challenge();
    return {
      protocol: PROTOCOL_VERSION,
      signPublicKey: toBase64(this.identity.signPublicKey),
      boxPublicKey: toBase64(this.identity.boxPublicKey),
      signature: toBase64(await signHello(this.identity.signSecretKey, nonce, this.socket.id!, this.identity.boxPublicKey)),
      platform: 'node',
      backend: 'test',
      numExamples: 100,
      ...(token !== undefined ? { token } : {}),
      ...overrides,
    };
  }

  async join(token: string, overrides: Partial<Hello> = {}): Promise<Welcome> {
    const r = await this.request(EVENTS.hello, await this.signedHello(token, overrides));
    if (!r.ok) throw new Error(`hello refused: ${r.error.code}: ${r.error.message}`);
    this.welcome = r.welcome as Welcome;
    this.shared = await sharedKey(fromBase64(this.welcome.server.boxPublicKey), this.identity.boxSecretKey);
    return this.welcome;
  }

  nextRoundStart(): Promise<RoundStart> {
    const pending = this.starts.shift();
    if (pending) return Promise.resolve(pending);
    return new Promise((resolve) => this.startWaiters.push((s) => resolve(this.starts.splice(this.starts.indexOf(s), 1)[0]!)));
  }

  /** An update sealed to `key` (default: the coordinator's shared key) over the given payload. */
  async update(
    round: number,
    delta: Float32Array,
    opts: { numExamples?: number; manifest?: TensorSpec[]; payload?: Uint8Array; key?: Uint8Array; runId?: string } = {},
  ): Promise<Update> {
    const w = this.welcome!;
    const payload = opts.payload ?? encodeTensors(opts.manifest ?? w.model.manifest, delta);
    const envelope = await seal(payload, opts.key ?? this.shared!, updateContext(w.runId, round, w.clientId));
    return { runId: opts.runId ?? w.runId, round, numExamples: opts.numExamples ?? 100, metrics: { loss: 0.5 }, envelope };
  }

  close(): void {
    this.socket.disconnect();
  }
}
