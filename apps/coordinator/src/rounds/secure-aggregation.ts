import { SecAggAbortError, SecAggServerRound, sizeDistributedDp } from '@fedlink/crypto';
import { FedlinkError, SECAGG_EVENTS, SecAggClientMessageSchema, packSmallBinaries, parseMessage } from '@fedlink/protocol';
import type { Log } from '../log.js';
import type { ClientRegistry, ClientSession } from '../federation/client-registry.js';

/** Where the unmasked sum goes: the strategy's round aggregate (it must accept pre-summed groups). */
export interface WeightedSumSink {
  addWeightedSum(weightedSum: ArrayLike<number>, totalExamples: number, count: number): void;
}

/**
 * Drives one SecAgg+ round (Bell et al. 2020) over the socket.io transport: setup -> advertise ->
 * shares -> masked -> unmask, each stage closed when every live participant answered or at its
 * deadline. The coordinator only ever handles public keys, sealed shares, masked vectors and
 * revealed shares; what reaches the strategy is the unmasked SUM of the survivors' weighted
 * deltas. Individual plaintext updates never exist here.
 */
export interface SecureRoundContext {
  runId: string;
  round: number;
  participants: ClientSession[];
  vectorLength: number;
  sink: WeightedSumSink;
  /** Deadline for the masked stage (clients train meanwhile): the round's deadline. */
  roundDeadline: number;
  stageTimeoutMs: number;
  clipRange: number;
  expectedDropout?: number;
  /**
   * Distributed DP: clients clip to l2Clip and add discrete Gaussian shares sized so that
   * `expectedSurvivors` of them carry noise multiplier z (crypto/secagg/distributed-dp.ts).
   */
  dp?: { l2Clip: number; noiseMultiplier: number; expectedSurvivors: number };
  /** True when the participant left (disconnected, refused round:start). */
  isDropped(clientId: string): boolean;
  signal: AbortSignal;
}

export type SecureOutcome = { ok: true; count: number; bytesIn: number } | { ok: false; reason: string };

export class SecureAggregation {
  private server: SecAggServerRound | undefined;
  private isDropped: ((clientId: string) => boolean) | undefined;
  private wake: (() => void) | undefined;
  private bytesIn = 0;

  constructor(
    private readonly registry: ClientRegistry,
    private readonly log: Log,
  ) {}

  /** The open secure round's stage, for status displays. */
  get stage(): string | undefined {
    return this.server?.stage;
  }

  /** A stage message from a joined client; the sender must be the connection's own client. */
  async receive(session: ClientSession, raw: unknown): Promise<void> {
    const s = this.server;
    if (!s) throw new FedlinkError('wrong_round', 'no secure-aggregation round is open');
    const msg = raw as { stage?: unknown; sender?: unknown } | null;
    if (!msg || typeof msg !== 'object') throw new FedlinkError('bad_request', 'malformed secure-aggregation message');
    if (msg.sender !== session.clientId) throw new FedlinkError('secagg_failed', 'message sender is not the client of this connection');
    // A client counted out of the round (it disconnected) stays out, even if it reconnects and
    // sends what it computed before: its secrets may be gone, and the others moved on without it.
    if (this.isDropped?.(session.clientId)) throw new FedlinkError('stale', 'this client was dropped from the secure round in progress');
    const parsed = parseMessage(SecAggClientMessageSchema, raw, 'secure-aggregation message');
    switch (parsed.stage) {
      case 'advertise':
        await s.receiveAdvertise(parsed);
        break;
      case 'shares':
        await s.receiveShares(parsed);
        break;
      case 'masked':
        await s.receiveMasked(parsed);
        this.bytesIn += parsed.masked.byteLength;
        break;
      case 'unmask':
        await s.receiveUnmask(parsed);
        break;
      default: {
        const never: never = parsed;
        throw new FedlinkError('bad_request', `unknown secure-aggregation stage in ${JSON.stringify(never).slice(0, 40)}`);
      }
    }
    this.wake?.();
  }

  /** Something changed (a message, a dropout): re-check whether the stage can close. */
  poke(): void {
    this.wake?.();
  }

  async run(ctx: SecureRoundContext): Promise<SecureOutcome> {
    const m = ctx.participants.length;
    // Distributed DP: every client weighs 1 (cap 1) and the clip range leaves room for the noise.
    const dp = ctx.dp
      ? sizeDistributedDp({ l2Clip: ctx.dp.l2Clip, noiseMultiplier: ctx.dp.noiseMultiplier, participants: m, expectedSurvivors: Math.min(m, ctx.dp.expectedSurvivors), vectorLength: ctx.vectorLength })
      : undefined;
    const s = new SecAggServerRound({
      runId: ctx.runId,
      round: ctx.round,
      participants: ctx.participants.map((p) => ({ clientId: p.clientId, signPublicKey: p.signPublicKey, maxExamples: dp ? 1 : p.numExamples })),
      vectorLength: ctx.vectorLength,
      clipRange: dp ? dp.clipRange : ctx.clipRange,
      ...(dp ? { dp: dp.dp } : {}),
      ...(ctx.expectedDropout !== undefined ? { expectedDropout: ctx.expectedDropout } : {}),
    });
    this.server = s;
    this.isDropped = ctx.isDropped;
    this.bytesIn = 0;
    const live = () => s.expected().filter((id) => !ctx.isDropped(id));
    try {
      const setup = packSmallBinaries(s.setup);
      for (const p of ctx.participants) this.registry.send(p.clientId, SECAGG_EVENTS.setup, setup);
      await this.until(() => s.isComplete() || live().length === 0, Date.now() + ctx.stageTimeoutMs, ctx.signal);
      for (const [id, m] of s.closeAdvertise()) this.registry.send(id, SECAGG_EVENTS.keys, packSmallBinaries(m));
      await this.until(() => s.isComplete() || live().length === 0, Date.now() + ctx.stageTimeoutMs, ctx.signal);
      for (const [id, m] of s.closeShares()) this.registry.send(id, SECAGG_EVENTS.routedShares, packSmallBinaries(m));
      await this.until(() => s.isComplete() || live().length === 0, ctx.roundDeadline, ctx.signal);
      for (const [id, m] of s.closeMasked()) this.registry.send(id, SECAGG_EVENTS.unmaskRequest, packSmallBinaries(m));
      // Unmasking can finish as soon as enough shares are in; waiting for stragglers is optional.
      // Survivors answer in milliseconds; at the deadline, whatever shares arrived decide.
      await this.until(() => s.isComplete() || live().length === 0, Date.now() + ctx.stageTimeoutMs, ctx.signal);
      const result = await s.unmask();
      ctx.sink.addWeightedSum(result.weightedSum, result.totalExamples, result.count);
      return { ok: true, count: result.count, bytesIn: this.bytesIn };
    } catch (err) {
      if (err instanceof SecAggAbortError) {
        const abort = s.abortMessage() ?? err.toAbortMessage(ctx.runId, ctx.round);
        for (const p of ctx.participants) this.registry.send(p.clientId, SECAGG_EVENTS.abort, packSmallBinaries(abort));
        this.log.warn('secure aggregation aborted', { run: ctx.runId, round: ctx.round, reason: err.reason, detail: err.message });
        return { ok: false, reason: `secure aggregation aborted (${err.reason}): ${err.message}` };
      }
      throw err;
    } finally {
      this.server = undefined;
      this.isDropped = undefined;
      this.wake = undefined;
    }
  }

  /** Resolves when `done()` holds, at the deadline, or on abort; never waits without a deadline. */
  private until(done: () => boolean, deadline: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', finish, { once: true });
      this.wake = () => done() && finish();
      if (done() || signal.aborted) finish();
    });
  }
}
