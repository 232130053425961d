// A coordinator in memory behind FedlinkClient's transport seam (no network), for client tests.
import type { ClientSocket, ClientSocketOptions, FedlinkClient, FitOutcome, Trainer } from '@fedlink/client';
import { fingerprint, generateIdentity } from '@fedlink/crypto';
import { type ClientEventName, EVENTS, PROTOCOL_VERSION, type RoundStart, type TensorSpec, type Welcome, type WireError, encodeTensors, toBase64 } from '@fedlink/protocol';

export const RUN = 'run-seam';
export const MANIFEST: TensorSpec[] = [{ name: 'w', shape: [4] }];
const server = generateIdentity();

export const welcome = (secureAggregation = false): Welcome => ({
  protocol: PROTOCOL_VERSION,
  runId: RUN,
  clientId: 'c1',
  server: { signPublicKey: toBase64(server.signPublicKey), boxPublicKey: toBase64(server.boxPublicKey), fingerprint: fingerprint(server) },
  model: { name: 'tiny', topology: {}, manifest: MANIFEST, numParams: 4 },
  round: 0,
  rounds: 1,
  secureAggregation,
  encoding: 'float32',
  limits: { maxUpdateBytes: 1 << 20 },
});

/** Counts its fits; returns a fixed delta. */
export function fixedTrainer(): Trainer & { fits: number } {
  return {
    fits: 0,
    numExamples: 5,
    prepare: async () => undefined,
    async fit(): Promise<FitOutcome> {
      this.fits++;
      return { delta: new Float32Array([0.5, 0.25, 0, -1]), numExamples: 5, metrics: { loss: 0.1 } };
    },
    dispose: () => undefined,
  };
}

type Handler = (...args: unknown[]) => void;

/** A coordinator in memory: answers each request with `reply`, and can push events. */
export class FakeSocket implements ClientSocket {
  connected = false;
  id: string | undefined;
  readonly sent: { event: ClientEventName; payload: unknown }[] = [];
  private readonly handlers = new Map<string, Handler[]>();

  constructor(private readonly reply: (event: ClientEventName, payload: unknown) => unknown) {
    // Like io(): connects on its own, once the caller has had the chance to listen.
    setTimeout(() => this.connect(), 0);
  }

  connect(): void {
    if (this.connected) return;
    this.connected = true;
    this.id = 'socket-1';
    this.push('connect');
  }

  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    this.push('disconnect', 'io client disconnect');
  }

  on = ((event: string, listener: Handler) => {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), listener]);
  }) as ClientSocket['on'];

  async emitWithAck(event: ClientEventName, payload: unknown): Promise<unknown> {
    this.sent.push({ event, payload });
    return this.reply(event, payload);
  }

  push(event: string, ...args: unknown[]): void {
    for (const h of this.handlers.get(event) ?? []) h(...args);
  }
}

/** Connects FakeSockets (one per `connect`) that answer like a coordinator; `sockets` lists them. */
export function coordinator(behaviour: { refuseUpdate?: WireError; secureAggregation?: boolean } = {}) {
  const { refuseUpdate, secureAggregation = false } = behaviour;
  const sockets: FakeSocket[] = [];
  let options: ClientSocketOptions | undefined;
  const connect = (_url: string, o: ClientSocketOptions) => {
    options = o;
    const socket = new FakeSocket((event) => {
      if (event === EVENTS.challenge) return { ok: true, nonce: toBase64(new Uint8Array(32).fill(9)) };
      if (event === EVENTS.hello) return { ok: true, welcome: welcome(secureAggregation) };
      if (event === EVENTS.update) return refuseUpdate ? { ok: false, error: refuseUpdate } : { ok: true, accepted: true };
      return { ok: true };
    });
    sockets.push(socket);
    return socket;
  };
  return { connect, sockets, socket: () => sockets[sockets.length - 1]!, options: () => options! };
}

export const roundStart = (round = 1, attempt = 1): RoundStart => ({
  runId: RUN,
  round,
  attempt,
  deadline: Date.now() + 10_000,
  config: { epochs: 1, batchSize: 1, learningRate: 0.1, proximalMu: 0, seed: 1 },
  weights: encodeTensors(MANIFEST, new Float32Array(4)),
});

/** Resolves at the client's next welcome. */
export function nextWelcome(c: FedlinkClient): Promise<void> {
  return new Promise<void>((resolve) => {
    const off = c.on('welcome', () => {
      off();
      resolve();
    });
  });
}
