import {
  type Ack,
  type ClientAckBody,
  type ClientEventName,
  type ClientPayload,
  type EdgeSummary,
  EVENTS,
  FedlinkError,
  SECAGG_CLIENT_EVENTS,
  SECAGG_EVENTS,
  type Hello,
  PROTOCOL_VERSION,
  type RoundEnd,
  type RoundKey,
  type RoundStart,
  type RunEnd,
  type TensorSpec,
  type Update,
  type Welcome,
  type WireError,
  asBytes,
  controlManifest,
  decodeTensors,
  fromBase64,
  isAfter,
  packSmallBinaries,
  parseClientAck,
  parseServerPayload,
  roundKeyId,
  roundKeyOfId,
  toBase64,
} from '@fedlink/protocol';
import { type Identity, assertBoxKey, clientIdOf, deferredSharedKey, fingerprint, generateIdentity, sameFingerprint, seal, signHello, updateContext } from '@fedlink/crypto';
import { type BatchProgress, modelHash } from '@fedlink/ml';
import { firstNonFinite, scaffoldClientControl, scaffoldCorrection } from '@fedlink/core';
import { UpdateEncoder } from './compression.js';
import { ClientControl } from './control.js';
import { TypedEmitter } from './emitter.js';
import { privatizeLocally } from './privacy.js';
import { ClientSecureAggregation } from './secure.js';
import { type ClientSocket, type Connect, connectSocketIo } from './socket.js';
import type { FitOutcome, Trainer } from './trainer.js';

export type ClientState = 'idle' | 'connecting' | 'joining' | 'waiting' | 'training' | 'uploading' | 'done' | 'error';

export interface FedlinkClientOptions {
  /** Coordinator URL, e.g. http://127.0.0.1:7070 */
  url: string;
  token?: string;
  trainer: Trainer;
  platform: 'node' | 'browser';
  /** The tfjs backend in use (reported to the coordinator). */
  backend: string;
  /** Long-term identity; a fresh one is generated when absent (then the client is new on every start). */
  identity?: Identity;
  /** Expected coordinator fingerprint; without it the client trusts the key it first sees. */
  serverFingerprint?: string;
  /** Refuse a run whose model (topology and manifest) doesn't hash to this (@fedlink/ml modelHash, hex). */
  modelHash?: string;
  name?: string;
  /** Reconnect with backoff when the connection drops (default true). */
  reconnect?: boolean;
  /** Node only: PEM certificate(s) of a private CA to trust for https/wss (browsers use their own trust store). */
  ca?: string;
  /** How long to wait for each ack (default 60 s). */
  ackTimeoutMs?: number;
  /** Leave the run after this many rounds taken part in (default: stay until the run ends). */
  maxRounds?: number;
  /**
   * Opens the connection (default: socket.io-client). The transport seam: a wrapper here sees and
   * can alter everything the client sends and receives (the simulator injects dropouts so).
   */
  connect?: Connect;
  /**
   * Local differential privacy this client enforces itself, whatever the coordinator asks (for a
   * client that trusts no one): every delta is clipped to L2 norm `clip` and gets N(0, (z clip)^2)
   * per entry from the CSPRNG before it is sealed or masked. Takes the place of a coordinator's
   * local-DP request.
   */
  localPrivacy?: { clip: number; noiseMultiplier: number };
  /** 'edge': an edge aggregator joining its parent (hello says so; its trainer reports contributors). Default 'client'. */
  role?: 'client' | 'edge';
  /** An edge's group as it stands (its hello carries it; `reportEdge()` sends changes). Only with role 'edge'. */
  edgeSummary?: () => EdgeSummary;
}

export interface UploadInfo {
  round: number;
  bytes: number;
  /** Sealed to the coordinator's key (plain FedAvg) ... */
  sealed: boolean;
  /** ... or masked for secure aggregation (the coordinator sees only the sum). */
  masked: boolean;
}

export interface ClientEvents {
  state: (state: ClientState, detail?: string) => void;
  welcome: (welcome: Welcome) => void;
  roundStart: (round: number, deadline: number) => void;
  progress: (round: number, p: BatchProgress) => void;
  trained: (round: number, metrics: Update['metrics']) => void;
  uploaded: (info: UploadInfo) => void;
  rejected: (round: number, error: WireError) => void;
  roundEnd: (end: RoundEnd) => void;
  runEnd: (end: RunEnd) => void;
  error: (error: FedlinkError) => void;
}

/** Coordinator -> client events of secure aggregation. */
type SecAggServerEvent = (typeof SECAGG_EVENTS)['setup' | 'keys' | 'routedShares' | 'unmaskRequest' | 'abort'];

/** Errors after which retrying the same connection can't help. */
const FATAL_CODES = new Set(['protocol_mismatch', 'unauthorized', 'bad_signature', 'weak_key', 'server_key_mismatch', 'run_finished', 'unsupported', 'model_mismatch', 'vocab_mismatch']);
// Not fatal: `too_many_connections` and a handshake `timeout` (a full or busy coordinator) are retried after a backoff.

/**
 * The fedlink client runtime: joins a coordinator, trains on each round it is selected for, and
 * sends its delta sealed to the coordinator. The same class runs in Node and in browsers.
 */
export class FedlinkClient extends TypedEmitter<ClientEvents> {
  readonly identity: Identity;
  readonly clientId: string;
  private socket: ClientSocket | undefined;
  private welcome: Welcome | undefined;
  /** The key updates are sealed with, derived at the first update (a joined client may never be selected). */
  private shared: (() => Promise<Uint8Array>) | undefined;
  private pinned: string | undefined;
  private state: ClientState = 'idle';
  /** Last round:start handled (a retried round, a later attempt, is trained again). */
  private lastStart: RoundKey | undefined;
  /** Resolves once hello was answered and the trainer has built the run's model. */
  private joined: Promise<void>;
  private markJoined!: () => void;
  /** Whether `joined` has resolved (then a rejoin needs a fresh promise; a pending one is kept). */
  private isJoined = false;
  private roundsDone = 0;
  private settle: { resolve: (end: RunEnd) => void; reject: (err: FedlinkError) => void } | undefined;
  private training: Promise<void> = Promise.resolve();
  private readonly secure: ClientSecureAggregation;
  /** SCAFFOLD: this client's control variate c_i. */
  private readonly control = new ClientControl();
  /** Epoch ms before which the coordinator asked this client not to say hello again (`retryAfterMs`). */
  private retryAt = 0;
  /** Wire encoding of this client's deltas, with topk's error-feedback residual. */
  private readonly encoder = new UpdateEncoder();

  constructor(private readonly options: FedlinkClientOptions) {
    super();
    const lp = options.localPrivacy;
    if (lp && !(lp.clip > 0 && Number.isFinite(lp.clip) && lp.noiseMultiplier >= 0 && Number.isFinite(lp.noiseMultiplier))) {
      throw new RangeError(`localPrivacy needs clip > 0 and noiseMultiplier >= 0, got clip ${lp.clip}, noiseMultiplier ${lp.noiseMultiplier}`);
    }
    this.identity = options.identity ?? generateIdentity();
    this.clientId = clientIdOf(this.identity.signPublicKey);
    this.pinned = options.serverFingerprint;
    this.joined = new Promise((r) => (this.markJoined = r));
    this.secure = new ClientSecureAggregation(this.identity, () => this.welcome?.runId, async (msg) => {
      await this.request(SECAGG_CLIENT_EVENTS[msg.stage], packSmallBinaries(msg));
    });
  }

  /**
   * An edge tells its parent its group changed (`edge:summary` with `edgeSummary()`'s value).
   * Nothing is sent before the parent welcomed this edge or while disconnected: each hello
   * carries the summary as it is then. Resolves once the parent acked it (or it wasn't sent).
   */
  async reportEdge(): Promise<void> {
    const summary = this.options.role === 'edge' ? this.options.edgeSummary?.() : undefined;
    if (!summary || !this.isJoined || !this.socket?.connected) return;
    await this.request(EVENTS.edgeSummary, summary).catch((e: unknown) => {
      if (e instanceof FedlinkError) this.emit('error', e);
    });
  }

  /** Leaves `key`'s attempt of its round (only that attempt: a later one of the same round is not left). */
  private withdraw(key: RoundKey, reason: string): void {
    const runId = this.welcome?.runId;
    if (!runId || key.round < 0 || !this.socket?.connected) return;
    const attempt = key.attempt >= 1 ? { attempt: key.attempt } : {};
    this.request(EVENTS.withdraw, { runId, round: key.round, ...attempt, reason: reason.slice(0, 200) }).catch(() => undefined);
  }

  /**
   * A secure-aggregation event: parsed (with its row of the contract) once the client has joined,
   * then handed to the round's state machine.
   */
  private onSecure(event: SecAggServerEvent) {
    return (raw: unknown) => {
      this.joined
        .then(() => this.secure.receive(parseServerPayload(event, raw)))
        .catch((err: unknown) => {
          const e = err instanceof FedlinkError ? err : new FedlinkError('secagg_failed', err instanceof Error ? err.message : String(err));
          const r = (raw as { round?: unknown } | null)?.round;
          const keyId = typeof r === 'number' ? r : -1;
          const key = keyId >= 0 ? roundKeyOfId(keyId) : { round: -1, attempt: 0 };
          this.emit('rejected', key.round, e.toWire());
          // A client that can't go on with the protocol leaves the round, so nobody waits for it.
          if (keyId >= 0) this.secure.forget(keyId);
          this.withdraw(key, e.message);
        });
    };
  }

  get status(): ClientState {
    return this.state;
  }

  /**
   * The model received must hash to the welcome's stated hash and to the one this client was told
   * to expect (--model-hash): a topology altered on the way, or another model than the one agreed
   * on, is refused before any training.
   */
  private async checkModelHash(welcome: Welcome): Promise<void> {
    const stated = welcome.model.hash;
    const expected = this.options.modelHash?.toLowerCase();
    if (stated === undefined && expected === undefined) return;
    const actual = await modelHash(welcome.model.topology, welcome.model.manifest);
    if (stated !== undefined && stated !== actual) {
      throw new FedlinkError('model_mismatch', `the model received hashes to ${actual.slice(0, 16)}…, the welcome says ${stated.slice(0, 16)}…`);
    }
    if (expected !== undefined && expected !== actual) {
      throw new FedlinkError('model_mismatch', `the run's model ${welcome.model.name} hashes to ${actual.slice(0, 16)}…, not the expected ${expected.slice(0, 16)}…`);
    }
  }

  get serverFingerprint(): string | undefined {
    return this.pinned;
  }

  /** Joins and takes part until the run ends (resolves) or a fatal error (rejects). */
  run(): Promise<RunEnd> {
    if (this.socket) throw new Error('client already running');
    return new Promise<RunEnd>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.setState('connecting');
      const socket = (this.options.connect ?? connectSocketIo)(this.options.url, {
        transports: ['websocket'],
        reconnection: this.options.reconnect ?? true,
        reconnectionDelay: 500,
        reconnectionDelayMax: 10_000,
        randomizationFactor: 0.5,
        timeout: 20_000,
        // Every request waits this long for its ack (then rejects).
        ackTimeout: this.options.ackTimeoutMs ?? 60_000,
        ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      });
      this.socket = socket;
      socket.on('connect', () => void this.handshake());
      socket.on('connect_error', (err) => {
        this.setState('connecting', `cannot reach coordinator: ${err.message}`);
        if (!(this.options.reconnect ?? true)) this.fail(new FedlinkError('internal', `cannot reach coordinator at ${this.options.url}: ${err.message}`));
      });
      socket.on('disconnect', (reason) => {
        // A dropped connection drops this client from any secure round in progress.
        this.secure.dispose();
        if (this.state === 'done' || this.state === 'error') return;
        this.setState('connecting', `disconnected (${reason}), reconnecting`);
        // A server-side disconnect is not retried by socket.io itself; retry unless fatal.
        if (reason === 'io server disconnect' && (this.options.reconnect ?? true)) setTimeout(() => socket.connect(), this.retryDelay(1000));
      });
      socket.on(EVENTS.error, (raw: unknown) => {
        let wire: WireError;
        try {
          wire = parseServerPayload(EVENTS.error, raw);
        } catch {
          return;
        }
        const err = new FedlinkError(wire.code, wire.message, wire.retryAfterMs !== undefined ? { retryAfterMs: wire.retryAfterMs } : {});
        if (err.retryAfterMs !== undefined) this.retryAt = Math.max(this.retryAt, Date.now() + err.retryAfterMs);
        this.emit('error', err);
        if (FATAL_CODES.has(err.code)) this.fail(err);
      });
      socket.on(EVENTS.roundStart, (raw: unknown, ack?: (reply: Ack<{}>) => void) => this.onRoundStart(raw, ack));
      socket.on(SECAGG_EVENTS.setup, this.onSecure(SECAGG_EVENTS.setup));
      socket.on(SECAGG_EVENTS.keys, this.onSecure(SECAGG_EVENTS.keys));
      socket.on(SECAGG_EVENTS.routedShares, this.onSecure(SECAGG_EVENTS.routedShares));
      socket.on(SECAGG_EVENTS.unmaskRequest, this.onSecure(SECAGG_EVENTS.unmaskRequest));
      socket.on(SECAGG_EVENTS.abort, this.onSecure(SECAGG_EVENTS.abort));
      socket.on(EVENTS.roundEnd, (raw: unknown) => {
        try {
          const end = parseServerPayload(EVENTS.roundEnd, raw);
          this.control.roundEnded(end);
          this.emit('roundEnd', end);
          if (this.state === 'waiting' || this.state === 'uploading') this.setState('waiting');
        } catch {
          /* ignore malformed broadcasts */
        }
      });
      socket.on(EVENTS.runEnd, (raw: unknown) => {
        try {
          const end = parseServerPayload(EVENTS.runEnd, raw);
          this.emit('runEnd', end);
          this.finish(end);
        } catch {
          /* ignore */
        }
      });
    });
  }

  /** Leaves the run. */
  stop(): void {
    this.finish({ runId: this.welcome?.runId ?? 'none', status: 'stopped', rounds: this.roundsDone, metrics: {} });
  }

  private isOver(): boolean {
    return this.state === 'done' || this.state === 'error';
  }

  private setState(state: ClientState, detail?: string): void {
    this.state = state;
    this.emit('state', state, detail);
  }

  private finish(end: RunEnd): void {
    if (this.state === 'done' || this.state === 'error') return;
    this.setState('done');
    this.socket?.disconnect();
    this.options.trainer.dispose();
    this.secure.dispose();
    this.settle?.resolve(end);
  }

  private fail(err: FedlinkError): void {
    if (this.state === 'done' || this.state === 'error') return;
    this.setState('error', err.message);
    this.emit('error', err);
    this.socket?.disconnect();
    this.options.trainer.dispose();
    this.settle?.reject(err);
  }

  /** Sends `event` and returns its parsed ack body; a refusal throws the FedlinkError it carries. */
  private async request<E extends ClientEventName>(event: E, payload: ClientPayload<E>): Promise<ClientAckBody<E>> {
    const socket = this.socket!;
    // socket.io-client would buffer the emit and replay it on the next connection, where it
    // would belong to a session (and often a round) that no longer exists.
    if (!socket.connected) throw new FedlinkError('timeout', `not connected: ${event} not sent`);
    return parseClientAck(event, await socket.emitWithAck(event, payload));
  }

  private async handshake(): Promise<void> {
    try {
      this.setState('joining');
      // A round:start that races this (re)join waits for its welcome, not the previous one's.
      if (this.isJoined) {
        this.isJoined = false;
        this.joined = new Promise((r) => (this.markJoined = r));
      }
      const socket = this.socket!;
      const { nonce } = await this.request(EVENTS.challenge, {});
      const hello: Hello = {
        protocol: PROTOCOL_VERSION,
        signPublicKey: toBase64(this.identity.signPublicKey),
        boxPublicKey: toBase64(this.identity.boxPublicKey),
        signature: toBase64(await signHello(this.identity.signSecretKey, fromBase64(nonce), socket.id!, this.identity.boxPublicKey)),
        platform: this.options.platform,
        backend: this.options.backend,
        numExamples: this.options.trainer.numExamples,
        ...(this.options.token !== undefined ? { token: this.options.token } : {}),
        ...(this.options.name !== undefined ? { name: this.options.name } : {}),
        ...(this.options.role === 'edge' ? { role: 'edge' as const } : {}),
        ...(this.options.role === 'edge' && this.options.edgeSummary ? { edge: this.options.edgeSummary() } : {}),
      };
      const { welcome } = await this.request(EVENTS.hello, hello);
      const server = { signPublicKey: fromBase64(welcome.server.signPublicKey), boxPublicKey: fromBase64(welcome.server.boxPublicKey) };
      const seen = fingerprint(server);
      if (this.pinned && !sameFingerprint(this.pinned, seen)) {
        throw new FedlinkError('server_key_mismatch', `coordinator key ${seen} is not the pinned ${this.pinned}`);
      }
      this.pinned = seen;
      // A coordinator box key of low order would make every sealed update readable by anyone.
      assertBoxKey(server.boxPublicKey, "coordinator's box key");
      const shared = deferredSharedKey(server.boxPublicKey, this.identity.boxSecretKey);
      if (welcome.protocol !== PROTOCOL_VERSION) throw new FedlinkError('protocol_mismatch', `coordinator speaks protocol ${welcome.protocol}, this client ${PROTOCOL_VERSION}`);
      const fresh = this.welcome?.runId !== welcome.runId;
      if (fresh) {
        await this.checkModelHash(welcome);
        // Before anything else: a client whose data or backend can't train this model stops here.
        try {
          await this.options.trainer.prepare(welcome);
        } catch (err) {
          // A trainer's own typed refusal (a text trainer's vocab_mismatch) keeps its code.
          throw err instanceof FedlinkError ? err : new FedlinkError('unsupported', err instanceof Error ? err.message : String(err));
        }
      }
      // A coordinator that restarted from its last checkpoint runs the rounds after
      // `welcome.round` again, with the same attempt numbers: those must be trained again.
      if (this.lastStart && this.lastStart.round > welcome.round) this.lastStart = { round: welcome.round, attempt: Number.MAX_SAFE_INTEGER };
      this.welcome = welcome;
      this.control.rejoined(welcome.runId, welcome.round);
      this.shared = shared;
      this.secure.rejoined();
      this.isJoined = true;
      this.markJoined();
      this.emit('welcome', welcome);
      this.setState('waiting');
    } catch (err) {
      const e = err instanceof FedlinkError ? err : new FedlinkError('internal', err instanceof Error ? err.message : String(err));
      if (FATAL_CODES.has(e.code) || !(this.options.reconnect ?? true)) this.fail(e);
      else {
        this.emit('error', e);
        // A coordinator that paces joins says when to come back (its join rate): wait that long.
        if (e.retryAfterMs !== undefined) this.retryAt = Date.now() + e.retryAfterMs;
        this.socket?.disconnect();
        setTimeout(() => !this.isOver() && this.socket?.connect(), this.retryDelay(2000));
      }
    }
  }

  private onRoundStart(raw: unknown, ack?: (reply: Ack<{}>) => void): void {
    let msg: RoundStart;
    try {
      msg = parseServerPayload(EVENTS.roundStart, raw);
    } catch (err) {
      ack?.({ ok: false, error: (err as FedlinkError).toWire() });
      return;
    }
    // The coordinator may start a round before this client has read its welcome (the hello ack
    // and round:start race); the round waits for the handshake instead of being refused.
    const accept = () => {
      if (!this.welcome || msg.runId !== this.welcome.runId) {
        ack?.({ ok: false, error: { code: 'wrong_run', message: 'round:start for a run this client has not joined' } });
        return false;
      }
      ack?.({ ok: true });
      return true;
    };
    // Rounds are handled one at a time, in order.
    this.training = this.training
      .then(() => this.joined)
      .then(() => (accept() ? this.trainAndReport(msg) : undefined));
  }

  private async trainAndReport(msg: RoundStart): Promise<void> {
    const welcome = this.welcome!;
    const key: RoundKey = { round: msg.round, attempt: msg.attempt };
    if (this.isOver() || !isAfter(key, this.lastStart)) return;
    this.lastStart = key;
    this.emit('roundStart', msg.round, msg.deadline);
    const keyId = roundKeyId(key);
    this.setState('training', `round ${msg.round}`);
    try {
      const global = decodeTensors(asBytes(msg.weights)!, welcome.model.manifest).flat;
      const own = this.options.localPrivacy;
      const local = own ? { clip: own.clip, noiseStd: own.noiseMultiplier * own.clip } : msg.privacy;
      const scaffold = msg.control !== undefined ? this.scaffoldInputs(msg, local !== undefined) : undefined;
      const outcome = await this.options.trainer.fit(global, msg.config, {
        onBatch: (p) => this.emit('progress', msg.round, p),
        shouldStop: () => Date.now() > msg.deadline || this.isOver(),
        ...(scaffold ? { correction: scaffoldCorrection(scaffold.server, scaffold.client) } : {}),
        round: { round: msg.round, attempt: msg.attempt, deadline: msg.deadline, ...(msg.share !== undefined ? { share: msg.share } : {}) },
      });
      this.emit('trained', msg.round, outcome.metrics);
      this.setState('uploading', `round ${msg.round}`);
      if (scaffold) {
        if (outcome.steps === undefined) throw new FedlinkError('unsupported', "this client's trainer reports no step count: it can't take part in a SCAFFOLD run");
        const { next, delta: deltaC } = scaffoldClientControl({ ...scaffold, delta: outcome.delta, steps: outcome.steps, learningRate: msg.config.learningRate });
        const both = new Float32Array(2 * outcome.delta.length);
        both.set(outcome.delta);
        both.set(deltaC, outcome.delta.length);
        await this.sendEncoded(msg.round, controlManifest(welcome.model.manifest), both, msg.config.seed, outcome);
        this.control.propose(welcome.runId, msg.round, next);
        this.roundDone();
        return;
      }
      // Local DP: the coordinator (and, under secure aggregation, the sum) only ever carry the clipped, noised delta.
      const delta = local ? privatizeLocally(outcome.delta, local) : outcome.delta;
      if (welcome.secureAggregation) {
        const bytes = await this.secure.submit(keyId, delta, outcome.numExamples, msg.deadline);
        this.emit('uploaded', { round: msg.round, bytes, sealed: false, masked: true });
      } else {
        await this.sendEncoded(msg.round, welcome.model.manifest, delta, msg.config.seed, outcome);
      }
      this.roundDone();
    } catch (err) {
      if (this.isOver()) return;
      const e = err instanceof FedlinkError ? err : new FedlinkError('internal', err instanceof Error ? err.message : String(err));
      this.emit('rejected', msg.round, e.toWire());
      // Training failed or the update was refused before it counted: say so, so the round need
      // not wait for this client until its deadline.
      if (e.code !== 'stale' && e.code !== 'duplicate' && e.code !== 'replay') this.withdraw(key, e.message);
      if (welcome.secureAggregation) this.secure.forget(keyId);
      this.setState('waiting');
    }
  }

  /** Encodes a delta in the run's encoding, sends it, and (once accepted) keeps topk's residual. */
  private async sendEncoded(round: number, manifest: readonly TensorSpec[], flat: Float32Array, seed: number, outcome: FitOutcome): Promise<void> {
    const welcome = this.welcome!;
    const encoded = this.encoder.encode(manifest, flat, {
      encoding: welcome.encoding,
      seed,
      ...(welcome.topkFraction !== undefined ? { topkFraction: welcome.topkFraction } : {}),
    });
    await this.sendSealed(round, encoded.bytes, outcome);
    encoded.commit();
  }

  /** Seals an encoded update to the coordinator, sends it (acked), and says so. */
  private async sendSealed(round: number, payload: Uint8Array, outcome: FitOutcome): Promise<void> {
    const welcome = this.welcome!;
    const envelope = await seal(payload, await this.shared!(), updateContext(welcome.runId, round, welcome.clientId));
    // An edge's update stands for a group of leaf clients: the parent counts them.
    const group = outcome.contributors !== undefined ? { contributors: outcome.contributors } : {};
    const update: Update = { runId: welcome.runId, round, numExamples: outcome.numExamples, metrics: outcome.metrics, envelope, ...group };
    await this.request(EVENTS.update, update);
    this.emit('uploaded', { round, bytes: envelope.ciphertext.length + envelope.nonce.length, sealed: true, masked: false });
  }

  /** How long to wait before reconnecting: `fallbackMs`, or until the coordinator's retry-after if later. */
  private retryDelay(fallbackMs: number): number {
    return Math.max(fallbackMs, this.retryAt - Date.now());
  }

  private roundDone(): void {
    this.roundsDone++;
    if (this.state === 'uploading') this.setState('waiting');
    if (this.options.maxRounds !== undefined && this.roundsDone >= this.options.maxRounds) this.stop();
  }

  /**
   * SCAFFOLD: the server's c from round:start and this client's c_i. The update carries
   * [delta y, delta c] sealed to the coordinator, so neither secure aggregation (one masked sum)
   * nor local DP (noise on delta y the client's delta c does not match) can go with it.
   */
  private scaffoldInputs(msg: RoundStart, privatized: boolean): { server: Float32Array; client: Float32Array } {
    const welcome = this.welcome!;
    if (welcome.secureAggregation) throw new FedlinkError('unsupported', 'round:start carries a SCAFFOLD control variate, but the run uses secure aggregation');
    if (privatized) throw new FedlinkError('unsupported', 'SCAFFOLD updates cannot be locally privatized: noise on delta y would not match the delta c derived from it');
    const server = decodeTensors(asBytes(msg.control)!, welcome.model.manifest).flat;
    const bad = firstNonFinite(server);
    if (bad >= 0) throw new FedlinkError('non_finite', `the server control variate has a non-finite value at element ${bad}`);
    return { server, client: this.control.startRound(welcome.runId, msg.round, server.length) };
  }
}
