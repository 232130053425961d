import { EventEmitter } from 'node:events';
import { type FitPlan, type RoundAggregator, type Strategy, createRng, firstNonFinite, l2Norm } from '@fedlink/core';
import { open as openEnvelope, updateContext } from '@fedlink/crypto';
import type { ImageDataset } from '@fedlink/ml';
import {
  EVENTS,
  FedlinkError,
  type RoundEnd,
  type RoundStart,
  type RunEnd,
  type Update,
  UpdateSchema,
  WithdrawSchema,
  asBytes,
  secaggRoundId,
  decodeTensors,
  parseMessage,
  toHex,
} from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { Log } from '../log.js';
import type { GlobalModel } from '../model/global-model.js';
import type { Phase, RoundRecord, RunStore } from '../state/run-history.js';
import type { ClientRegistry, ClientSession } from './client-registry.js';
import { SecureAggregation } from './secure-aggregation.js';

/** How long a selected client has to acknowledge round:start. */
const START_ACK_TIMEOUT_MS = 30_000;

export interface EngineEvents {
  phase: [Phase];
  roundStarted: [{ round: number; attempt: number; selected: string[]; target: number; deadline: number }];
  updateAccepted: [{ round: number; clientId: string; numExamples: number; bytes: number }];
  updateRejected: [{ round: number; clientId: string; code: string; message: string }];
  roundEnded: [RoundRecord];
  runEnded: [RunEnd];
}

/** A round in progress: who was asked, who answered, and the streaming aggregate. */
interface OpenRound {
  round: number;
  attempt: number;
  plan: FitPlan;
  selected: Set<string>;
  reported: Set<string>;
  dropped: Set<string>;
  inFlight: Set<string>;
  aggregator: RoundAggregator;
  startedAt: number;
  deadline: number;
  closed: boolean;
  closeReason: string;
  close(reason: string): void;
  whenClosed: Promise<void>;
  lossSum: number;
  accSum: number;
  accWeight: number;
  bytesIn: number;
  bytesOut: number;
  rejected: number;
}

export interface RoundEngineDeps {
  runId: string;
  settings: RunSettings;
  strategy: Strategy;
  model: GlobalModel;
  registry: ClientRegistry;
  store: RunStore;
  log: Log;
  testData?: ImageDataset;
  /** Largest sealed update accepted (bytes of ciphertext). */
  maxUpdateBytes: number;
  /** First round to run (resume: last completed + 1). */
  startRound?: number;
}

/**
 * Runs a federated training: wait for clients -> select -> round:start -> collect sealed updates
 * -> aggregate (streaming) -> evaluate -> record -> round:end, until the target round. Every wait
 * has a deadline; a round that can't reach minFit is abandoned (model untouched) and retried.
 */
export class RoundEngine extends EventEmitter<EngineEvents> {
  readonly runId: string;
  private phaseNow: Phase = 'starting';
  private completedRound: number;
  private current: OpenRound | undefined;
  private readonly seenNonces = new Set<string>();
  private readonly abort = new AbortController();
  private finished: RunEnd | undefined;
  private readonly secure: SecureAggregation;
  /**
   * Sealed plaintext updates opened so far. In secure-aggregation mode this stays 0: the
   * coordinator never decrypts an individual update (tests check it).
   */
  plaintextUpdatesOpened = 0;

  constructor(private readonly deps: RoundEngineDeps) {
    super();
    this.secure = new SecureAggregation(deps.registry, deps.log);
    this.runId = deps.runId;
    this.completedRound = (deps.startRound ?? 1) - 1;
    deps.registry.on('left', (s) => this.onClientLeft(s));
  }

  get phase(): Phase {
    return this.phaseNow;
  }

  /** Last completed round. */
  get round(): number {
    return this.completedRound;
  }

  get openRound(): { round: number; attempt: number; selected: number; reported: number; deadline: number } | undefined {
    const o = this.current;
    return o && !o.closed ? { round: o.round, attempt: o.attempt, selected: o.selected.size, reported: o.reported.size, deadline: o.deadline } : undefined;
  }

  get result(): RunEnd | undefined {
    return this.finished;
  }

  private setPhase(p: Phase): void {
    this.phaseNow = p;
    this.emit('phase', p);
  }

  /** Stops the run: the open round is closed without aggregating, clients are told. */
  stop(reason = 'stopped by operator'): void {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    this.current?.close(reason);
  }

  async run(): Promise<RunEnd> {
    const { settings, registry, log } = this.deps;
    let abandonedInARow = 0;
    let attempt = 0;
    while (this.completedRound < settings.rounds && !this.abort.signal.aborted) {
      const round = this.completedRound + 1;
      attempt++;
      this.setPhase('waiting');
      const need = settings.selection.minAvailable;
      const ok = await registry.waitForClients(need, settings.waitTimeoutMs, this.abort.signal);
      if (this.abort.signal.aborted) break;
      let record: RoundRecord;
      if (!ok) {
        const now = Date.now();
        record = this.abandonedRecord(round, attempt, now - settings.waitTimeoutMs, now, `only ${registry.size} of ${need} required clients connected within ${settings.waitTimeoutMs / 1000}s`);
      } else {
        record = await this.runRound(round, attempt);
      }
      if (record.status === 'completed') {
        this.completedRound = round;
        abandonedInARow = 0;
        attempt = 0;
      } else {
        abandonedInARow++;
        log.warn('round abandoned', { run: this.runId, round, attempt, reason: record.reason });
        if (this.abort.signal.aborted) break;
        if (settings.maxAbandonedAttempts > 0 && abandonedInARow >= settings.maxAbandonedAttempts) {
          log.error('giving up: too many abandoned attempts in a row', { run: this.runId, round, attempts: abandonedInARow });
          this.abort.abort();
          break;
        }
      }
    }
    const status = this.completedRound >= settings.rounds ? 'finished' : 'stopped';
    const last = this.lastMetrics;
    const end: RunEnd = { runId: this.runId, status, rounds: this.completedRound, metrics: last };
    await this.deps.store.finishRun(this.runId, status);
    this.setPhase(status === 'finished' ? 'finished' : 'stopped');
    registry.broadcast(EVENTS.runEnd, end);
    this.finished = end;
    this.emit('runEnded', end);
    return end;
  }

  private lastMetrics: Record<string, number> = {};

  private async runRound(round: number, attempt: number): Promise<RoundRecord> {
    const { settings, strategy, registry, model, log } = this.deps;
    const available = registry.ids();
    // Selection depends only on the seed, the round, the attempt and who is connected.
    const rng = createRng(Math.imul(settings.seed, 0x9e3779b1) ^ Math.imul(round, 0x85ebca6b) ^ attempt);
    const plan = strategy.configureFit(round, available, rng);
    const startedAt = Date.now();
    const deadline = startedAt + settings.roundTimeoutMs;
    let resolveClosed!: () => void;
    const whenClosed = new Promise<void>((r) => (resolveClosed = r));
    const open: OpenRound = {
      round,
      attempt,
      plan,
      selected: new Set(plan.selected),
      reported: new Set(),
      dropped: new Set(),
      inFlight: new Set(),
      aggregator: strategy.beginAggregation(round, model.weights),
      startedAt,
      deadline,
      closed: false,
      closeReason: '',
      close: (reason: string) => {
        if (open.closed) return;
        open.closed = true;
        open.closeReason = reason;
        clearTimeout(timer);
        resolveClosed();
      },
      whenClosed,
      lossSum: 0,
      accSum: 0,
      accWeight: 0,
      bytesIn: 0,
      bytesOut: 0,
      rejected: 0,
    };
    const timer = setTimeout(() => open.close('deadline'), settings.roundTimeoutMs);
    this.current = open;
    this.setPhase('training');

    const weights = model.encodedWeights();
    for (const clientId of plan.selected) {
      const msg: RoundStart = { runId: this.runId, round, attempt, deadline, config: plan.configFor(clientId), weights };
      if (!registry.get(clientId)) {
        open.dropped.add(clientId);
        continue;
      }
      open.bytesOut += weights.length;
      // A client that refuses round:start, or does not ack it in time, is counted as dropped
      // at once, so the round never waits for the deadline on its account.
      registry.request(clientId, EVENTS.roundStart, msg, START_ACK_TIMEOUT_MS).then(
        (reply) => {
          if ((reply as { ok?: unknown } | null)?.ok !== true) this.markDropped(open, clientId, 'refused round:start');
        },
        () => this.markDropped(open, clientId, 'no ack for round:start'),
      );
    }
    log.info('round started', { run: this.runId, round, attempt, selected: plan.selected.length, target: plan.target });
    this.emit('roundStarted', { round, attempt, selected: plan.selected, target: plan.target, deadline });
    let secureFailure: string | undefined;
    if (settings.secureAggregation) {
      const participants = plan.selected.map((id) => registry.get(id)).filter((x): x is ClientSession => x !== undefined);
      const outcome =
        participants.length < 2
          ? ({ ok: false, reason: `only ${participants.length} selected client(s) connected; secure aggregation needs 2` } as const)
          : await this.secure.run({
              runId: this.runId,
              round: secaggRoundId(round, attempt),
              participants,
              vectorLength: model.numParams,
              aggregator: open.aggregator,
              roundDeadline: deadline,
              stageTimeoutMs: settings.secaggStageTimeoutMs,
              clipRange: settings.secaggClipRange,
              ...(settings.secaggExpectedDropout !== undefined ? { expectedDropout: settings.secaggExpectedDropout } : {}),
              isDropped: (id) => open.dropped.has(id) || !registry.get(id),
              signal: this.abort.signal,
            });
      if (outcome.ok) open.bytesIn += outcome.bytesIn;
      else secureFailure = outcome.reason;
      open.close(outcome.ok ? 'secure aggregation finished' : outcome.reason);
    } else {
      this.maybeClose(open);
    }
    await whenClosed;
    // Updates still being opened when the round closed are waited for, so none is half-counted.
    while (open.inFlight.size > 0) await new Promise((r) => setTimeout(r, 5));

    const endedAt = Date.now();
    const count = open.aggregator.count;
    const base = {
      round,
      attempt,
      startedAt,
      endedAt,
      seconds: (endedAt - startedAt) / 1000,
      selected: open.selected.size,
      target: plan.target,
      reported: count,
      dropped: open.dropped.size,
      rejected: open.rejected,
      totalExamples: open.aggregator.totalExamples,
      bytesIn: open.bytesIn,
      bytesOut: open.bytesOut,
    };
    let record: RoundRecord;
    if (secureFailure !== undefined) {
      record = { ...base, status: 'abandoned', reason: secureFailure };
    } else if (this.abort.signal.aborted && count < plan.target) {
      record = { ...base, status: 'abandoned', reason: open.closeReason };
    } else if (count < settings.selection.minFit) {
      record = {
        ...base,
        status: 'abandoned',
        reason: `${count} update(s) by ${open.closeReason === 'deadline' ? 'the deadline' : 'the time all selected clients answered or dropped'}, minFit is ${settings.selection.minFit}`,
      };
    } else {
      this.setPhase('aggregating');
      model.weights = open.aggregator.finish();
      // In secure mode clients report no individual metrics, so there is no train loss.
      record = {
        ...base,
        status: 'completed',
        ...(open.lossSum > 0 || !settings.secureAggregation ? { trainLoss: open.lossSum / open.aggregator.totalExamples } : {}),
        ...(open.accWeight > 0 ? { trainAccuracy: open.accSum / open.accWeight } : {}),
      };
      if (this.deps.testData) {
        this.setPhase('evaluating');
        const ev = await model.evaluate(this.deps.testData);
        record.testLoss = ev.loss;
        record.testAccuracy = ev.accuracy;
      }
      record.endedAt = Date.now();
      record.seconds = (record.endedAt - startedAt) / 1000;
      this.lastMetrics = metricsOf(record);
      for (const id of open.reported) {
        const s = registry.get(id);
        if (s) s.roundsCompleted++;
      }
    }
    await this.deps.store.recordRound(this.runId, record, record.status === 'completed' ? model.weights : undefined);
    const end: RoundEnd = {
      runId: this.runId,
      round,
      status: record.status,
      participants: count,
      metrics: metricsOf(record),
      ...(record.reason !== undefined ? { reason: record.reason } : {}),
    };
    registry.broadcast(EVENTS.roundEnd, end);
    this.emit('roundEnded', record);
    log.info(`round ${record.status}`, { run: this.runId, round, attempt, reported: count, seconds: record.seconds, ...metricsOf(record) });
    return record;
  }

  private abandonedRecord(round: number, attempt: number, startedAt: number, endedAt: number, reason: string): RoundRecord {
    const record: RoundRecord = {
      round,
      attempt,
      status: 'abandoned',
      reason,
      startedAt,
      endedAt,
      seconds: (endedAt - startedAt) / 1000,
      selected: 0,
      target: 0,
      reported: 0,
      dropped: 0,
      rejected: 0,
      totalExamples: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
    void this.deps.store.recordRound(this.runId, record);
    this.emit('roundEnded', record);
    return record;
  }

  /** Closes the round at the target count, or once every selected client answered or dropped. */
  private maybeClose(open: OpenRound): void {
    if (open.closed) return;
    if (open.aggregator.count >= open.plan.target) return open.close('target reached');
    const pending = [...open.selected].filter((id) => !open.reported.has(id) && !open.dropped.has(id));
    if (pending.length === 0 && open.inFlight.size === 0) open.close('all selected clients answered or dropped');
  }

  private onClientLeft(s: ClientSession): void {
    if (this.current) this.markDropped(this.current, s.clientId, 'disconnected');
  }

  private markDropped(open: OpenRound, clientId: string, why: string): void {
    if (open.closed || !open.selected.has(clientId) || open.reported.has(clientId) || open.dropped.has(clientId)) return;
    open.dropped.add(clientId);
    this.deps.log.debug('client dropped from round', { run: this.runId, round: open.round, client: clientId, why });
    if (this.deps.settings.secureAggregation) this.secure.poke();
    else this.maybeClose(open);
  }

  /** The client says it can't finish the round: it is dropped now instead of at the deadline. */
  withdraw(session: ClientSession, raw: unknown): void {
    const msg = parseMessage(WithdrawSchema, raw, 'round:withdraw');
    const open = this.current;
    if (msg.runId !== this.runId || !open || open.round !== msg.round) return;
    this.markDropped(open, session.clientId, `withdrew: ${msg.reason}`);
  }

  /** A secure-aggregation stage message from a joined client. */
  async submitSecAgg(session: ClientSession, raw: unknown): Promise<void> {
    try {
      if (!this.deps.settings.secureAggregation) throw new FedlinkError('bad_request', 'this run does not use secure aggregation');
      await this.secure.receive(session, raw);
      session.lastSeen = Date.now();
    } catch (err) {
      const e = err instanceof FedlinkError ? err : new FedlinkError('internal', 'secure-aggregation message could not be processed');
      if (this.current && !this.current.closed) this.current.rejected++;
      const round = this.current?.round ?? -1;
      this.deps.log.warn('secure-aggregation message rejected', { run: this.runId, round, client: session.clientId, code: e.code, reason: e.message });
      this.emit('updateRejected', { round, clientId: session.clientId, code: e.code, message: e.message });
      throw e;
    }
  }

  /**
   * A sealed update from a joined client. Checks run in a fixed order, each with its own typed
   * error: size, run, round, selection, replay, duplicate, decryption, shape, finiteness, norm.
   * A rejected update never touches the aggregate.
   */
  async submitUpdate(session: ClientSession, raw: unknown): Promise<void> {
    const clientId = session.clientId;
    let roundForLog = -1;
    try {
      const msg: Update = parseMessage(UpdateSchema, raw, 'round:update');
      roundForLog = msg.round;
      if (this.deps.settings.secureAggregation) {
        throw new FedlinkError('bad_request', 'this run uses secure aggregation: send masked input (secagg:masked), not a sealed update');
      }
      const ciphertext = asBytes(msg.envelope.ciphertext)!;
      if (ciphertext.length > this.deps.maxUpdateBytes) {
        throw new FedlinkError('payload_too_large', `update is ${ciphertext.length} bytes, the limit for this model is ${this.deps.maxUpdateBytes}`);
      }
      if (msg.runId !== this.runId) throw new FedlinkError('wrong_run', `update for run ${msg.runId}, this run is ${this.runId}`);
      const open = this.current;
      if (msg.round <= this.completedRound || (open && open.round === msg.round && open.closed)) {
        throw new FedlinkError('stale', `round ${msg.round} is closed; late update discarded`);
      }
      if (!open || msg.round !== open.round) throw new FedlinkError('wrong_round', `round ${msg.round} is not open (current: ${open?.round ?? 'none'})`);
      if (!open.selected.has(clientId)) throw new FedlinkError('not_selected', `client was not selected for round ${msg.round}`);
      const nonce = toHex(asBytes(msg.envelope.nonce)!);
      if (this.seenNonces.has(nonce)) throw new FedlinkError('replay', 'this envelope was already received');
      this.seenNonces.add(nonce);
      if (open.reported.has(clientId) || open.inFlight.has(clientId)) throw new FedlinkError('duplicate', `client already sent an update for round ${msg.round}`);
      if (msg.numExamples > session.numExamples) {
        throw new FedlinkError('bad_request', `update claims ${msg.numExamples} examples, the client declared ${session.numExamples} in hello`);
      }
      open.inFlight.add(clientId);
      try {
        this.plaintextUpdatesOpened++;
        const plaintext = await openEnvelope(
          { nonce: asBytes(msg.envelope.nonce)!, ciphertext },
          session.sharedKey,
          updateContext(this.runId, msg.round, clientId),
        );
        const delta = decodeTensors(plaintext, this.deps.model.manifest).flat;
        const bad = firstNonFinite(delta);
        if (bad >= 0) throw new FedlinkError('non_finite', `delta has a non-finite value at element ${bad}`);
        const bound = this.deps.settings.maxUpdateNorm;
        if (bound > 0) {
          const norm = l2Norm(delta);
          if (norm > bound) throw new FedlinkError('norm_exceeded', `delta L2 norm ${norm.toFixed(3)} exceeds the bound ${bound}`);
        }
        if (open.closed) throw new FedlinkError('stale', `round ${msg.round} closed while the update was being checked`);
        open.aggregator.add(delta, msg.numExamples);
        open.reported.add(clientId);
        open.dropped.delete(clientId);
        open.lossSum += msg.metrics.loss * msg.numExamples;
        if (msg.metrics.accuracy !== undefined) {
          open.accSum += msg.metrics.accuracy * msg.numExamples;
          open.accWeight += msg.numExamples;
        }
        open.bytesIn += ciphertext.length;
        session.lastSeen = Date.now();
        this.emit('updateAccepted', { round: msg.round, clientId, numExamples: msg.numExamples, bytes: ciphertext.length });
      } finally {
        open.inFlight.delete(clientId);
        this.maybeClose(open);
      }
    } catch (err) {
      const e = err instanceof FedlinkError ? err : new FedlinkError('internal', 'update could not be processed');
      // Every refusal while a round is open counts against it (the dashboard and metrics show it).
      if (this.current && !this.current.closed) this.current.rejected++;
      this.deps.log.warn('update rejected', { run: this.runId, round: roundForLog, client: clientId, code: e.code, reason: e.message });
      this.emit('updateRejected', { round: roundForLog, clientId, code: e.code, message: e.message });
      throw e;
    }
  }
}

function metricsOf(r: RoundRecord): Record<string, number> {
  const m: Record<string, number> = {};
  if (r.trainLoss !== undefined) m.trainLoss = r.trainLoss;
  if (r.trainAccuracy !== undefined) m.trainAccuracy = r.trainAccuracy;
  if (r.testLoss !== undefined) m.testLoss = r.testLoss;
  if (r.testAccuracy !== undefined) m.testAccuracy = r.testAccuracy;
  return m;
}
