import { EventEmitter } from 'node:events';
import type { AggregateResult, Strategy } from '@fedlink/core';
import type { ImageDataset } from '@fedlink/ml';
import { type EdgeState, EVENTS, FedlinkError, type Phase, type RoundEnd, type RoundKey, type RunEnd, type TrainConfig, encodeTensors, parseClientPayload } from '@fedlink/protocol';
import { type ClientRegistry, type ClientSession, leavesOf } from '../federation/client-registry.js';
import type { RunContext } from '../federation/run-context.js';
import type { Log } from '../log.js';
import type { RoundRecord, RunStore } from '../state/run-history.js';
import type { EngineEvents, FederationEngine } from './engine.js';
import type { OpenRound } from './open-round.js';
import { type LeafPlanning, assignedPlan, planRound } from './round-plan.js';
import { PrivacyBudget, expectedSurvivors, privacyOf } from './privacy-budget.js';
import { RoundRecords, metricsOf } from './round-record.js';
import { RoundRunner } from './round-runner.js';
import { type OpenRoundView, type RoundSnapshot, RoundState } from './round-state.js';
import { SecureAggregation } from './secure-aggregation.js';
import { UpdateIntake, type UpdateIntakeOptions } from './update-intake.js';

export interface RoundEngineDeps {
  /** The run's facts: ids, keys, model, settings, limits. */
  context: RunContext;
  strategy: Strategy;
  registry: ClientRegistry;
  store: RunStore;
  log: Log;
  /** Held-out data the new global model is evaluated on after each round. */
  testData?: ImageDataset;
  /** First round to run (resume: last completed + 1). */
  startRound?: number;
  /** Records of the rounds before startRound (resume): the privacy budget re-charges them. */
  history?: readonly RoundRecord[];
  /** Where sealed updates are opened and checked (default: on the event loop). */
  intake?: UpdateIntakeOptions;
}

/** A round a parent asked for (an edge's upstream): its key, global weights, training config and this level's deadline. */
export interface DelegatedRound {
  key: RoundKey;
  weights: Float32Array;
  /** The parent's config for this edge; its seed seeds this level's selection and client seeds. */
  config: TrainConfig;
  /** Epoch ms this level's round closes at (inside the parent's deadline). */
  deadline: number;
  /**
   * A leaf's training seed, where the driver knows a better one than this level's draw gives
   * (simulate: the seed the flat run of the same clients gives that client); undefined keeps the plan's.
   */
  leafSeed?: (clientId: string) => number | undefined;
  /** The parent's own plan (a cluster leader's): who of this level's clients trains, with which config. */
  assigned?: Readonly<Record<string, TrainConfig>>;
  /** Delegated selection: the leaf clients the parent asked this level for (its round:start's `share`). */
  share?: number;
  /** The parent closes the round early, keeping its updates (a cluster reached its target over all nodes). */
  close?: AbortSignal;
}

/** What a delegated round produced: the reduction of this level's updates, or why there is none; and its record. */
export type DelegatedOutcome = { ok: true; result: AggregateResult; record: RoundRecord } | { ok: false; reason: string; record: RoundRecord };

/**
 * The run loop of a single coordinator: wait for clients -> plan an attempt -> collect it
 * (RoundRunner) -> decide: abandon below minFit, or aggregate (strategy) -> evaluate -> record ->
 * round:end, until the target round. Every wait has a deadline; an abandoned attempt leaves the
 * model untouched and is retried. The round state it keeps is published as snapshots.
 */
export class RoundEngine extends EventEmitter<EngineEvents> implements FederationEngine {
  readonly runId: string;
  readonly state: RoundState;
  private readonly abort = new AbortController();
  private readonly secure: SecureAggregation;
  private readonly intake: UpdateIntake;
  private readonly runner: RoundRunner;
  /** Set by delegate(): rounds come from a parent (runDelegated), not from run(). */
  private delegatedEnd: Promise<RunEnd> | undefined;
  private ending: Promise<RunEnd> | undefined;
  /** The DP accountant, when the strategy has a dp wrapper. */
  readonly privacy: PrivacyBudget | undefined;

  constructor(private readonly deps: RoundEngineDeps) {
    super();
    const { context, registry, log } = deps;
    const dp = privacyOf(deps.strategy, context.settings);
    this.privacy = dp ? new PrivacyBudget(dp.dp, dp.settings) : undefined;
    this.privacy?.replay((deps.history ?? []).filter((r) => r.round < (deps.startRound ?? 1)));
    this.runId = context.runId;
    this.state = new RoundState({ runId: context.runId, round: (deps.startRound ?? 1) - 1, rounds: context.settings.rounds });
    this.secure = new SecureAggregation(registry, log);
    this.intake = new UpdateIntake(context, (u) => {
      // An edge's group: what the dashboard shows of it (its leaf clients, examples, bytes).
      const from = u.contributors !== undefined ? registry.get(u.clientId) : undefined;
      if (from?.edge) from.lastGroup = { round: u.round, attempt: u.attempt, contributors: u.contributors!, numExamples: u.numExamples, bytesIn: u.bytes, at: Date.now() };
      this.emit('updateAccepted', { round: u.round, clientId: u.clientId, numExamples: u.numExamples, bytes: u.bytes });
    }, deps.intake);
    this.runner = new RoundRunner({
      context,
      registry,
      secure: this.secure,
      log,
      onOpened: (open) => {
        // The intake's threads boot while the clients train, not on the first update's time.
        if (!context.settings.secureAggregation) void this.intake.warm();
        this.state.update({ openRound: viewOf(open) });
        this.emit('roundStarted', { round: open.key.round, attempt: open.key.attempt, selected: [...open.selected], target: open.target, deadline: open.deadline });
      },
      onChanged: (open) => this.state.update({ openRound: viewOf(open) }),
    });
    registry.on('left', (s) => this.runner.drop(s.clientId, 'disconnected'));
  }

  snapshot(): RoundSnapshot {
    return this.state.current;
  }

  get phase(): Phase {
    return this.state.current.phase;
  }

  /** Last completed round. */
  get round(): number {
    return this.state.current.round;
  }

  get result(): RunEnd | undefined {
    return this.state.current.result ?? undefined;
  }

  /** Individual sealed updates opened so far (stays 0 with secure aggregation). */
  get plaintextUpdatesOpened(): number {
    return this.intake.plaintextUpdatesOpened;
  }

  /** How sealed updates are opened: 'pool' (worker threads) or 'in-thread'. */
  get intakeMode(): UpdateIntake['opener']['name'] {
    return this.intake.opener.name;
  }

  /** Settles when the intake's threads (if any) take updates; the engine starts them when a plain round opens. */
  intakeReady(): Promise<void> {
    return this.intake.warm();
  }

  /** Envelope nonces held for replay detection: the open round's only. */
  get replayMemory(): number {
    return this.intake.replayMemory;
  }

  stop(reason = 'stopped by operator'): void {
    if (this.abort.signal.aborted) return;
    this.abort.abort(reason);
    if (this.delegatedEnd) void this.endRun('stopped');
  }

  /**
   * Hands the run's rounds to another driver (an edge's upstream link) instead of run(): each
   * runDelegated() is one round; endRun() (or stop()) ends the run. Resolves with its end.
   */
  delegate(): Promise<RunEnd> {
    this.state.update({ phase: 'waiting' });
    return (this.delegatedEnd ??= new Promise((resolve) => this.once('runEnded', resolve)));
  }

  /**
   * One round asked for by a parent: wait for clients (until the deadline), plan over them with
   * the parent's config, collect with this run's aggregator (no server optimizer: the parent
   * applies the tree's mean), record and announce it to this level's clients. The model takes
   * the parent's weights, so this level's API serves what its clients trained from.
   */
  async runDelegated(req: DelegatedRound): Promise<DelegatedOutcome> {
    const { context, strategy, registry, log, store } = this.deps;
    const settings = context.settings;
    const signal = this.abort.signal;
    if (!this.delegatedEnd) throw new Error('runDelegated() before delegate()');
    const minFit = (share: number | undefined) => (share === undefined ? settings.selection.minFit : Math.min(settings.selection.minFit, share));
    const need = settings.selection.minAvailable;
    const waitMs = Math.max(0, Math.min(settings.waitTimeoutMs, req.deadline - Date.now()));
    // The parent decides which rounds are done: it may run a round again that this level completed
    // (it abandoned that attempt, or restarted from an earlier checkpoint), whose updates must not read as stale.
    this.state.update({ phase: 'waiting', ...(this.round >= req.key.round ? { round: req.key.round - 1 } : {}) });
    let record: RoundRecord;
    let result: AggregateResult | undefined;
    if (!(await registry.waitForClients(need, waitMs, signal)) || signal.aborted) {
      const now = Date.now();
      record = RoundRecords.notStarted(req.key, now - waitMs, now, signal.aborted ? String(signal.reason) : `only ${registry.leafCount()} of ${need} required clients connected by the deadline`);
      await store.recordRound(this.runId, record);
    } else {
      context.model.weights = req.weights;
      const { seed, ...fit } = req.config;
      const leaves = this.leafPlanning(req.share);
      const drawn = req.assigned ? assignedPlan(req.key, req.assigned, registry.ids()) : planRound({ seed, fit, selection: settings.selection }, req.key, registry.ids(), leaves);
      const leafSeed = req.leafSeed;
      const plan = leafSeed
        ? { ...drawn, configFor: (id: string) => { const c = drawn.configFor(id); const s = leafSeed(id); return s === undefined ? c : { ...c, seed: s }; } }
        : drawn;
      const aggregate = strategy.aggregator.begin(context.model.numParams);
      this.state.update({ phase: 'training' });
      const { open, secureFailure } = await this.runner.runRound({ plan, weights: context.model.encodedWeights(), aggregate, signal, deadline: req.deadline, ...(req.close ? { close: req.close } : {}) });
      const base = RoundRecords.base(open, Date.now());
      if (secureFailure !== undefined) record = RoundRecords.abandoned(base, secureFailure);
      else if (signal.aborted) record = RoundRecords.abandoned(base, open.closeReason ?? 'stopped');
      // Asked for a share below its own minFit, this level closes with the share.
      else if (open.count < minFit(req.share)) record = RoundRecords.abandoned(base, `${open.count} update(s) by ${open.closeReason ?? 'the deadline'}, minFit is ${minFit(req.share)}`);
      else {
        result = aggregate.finish();
        record = RoundRecords.evaluated(RoundRecords.completed(base, open), undefined, Date.now());
        if (Object.keys(result.metrics).length > 0) record.aggregation = { ...result.metrics };
        for (const id of open.reported) {
          const s = registry.get(id);
          if (s) s.roundsCompleted++;
        }
      }
      await store.recordRound(this.runId, record, undefined, open.outcomes());
    }
    this.state.update({ openRound: null, phase: 'waiting', ...(result ? { round: req.key.round, lastMetrics: metricsOf(record) } : {}) });
    const end: RoundEnd = { runId: this.runId, round: req.key.round, status: record.status, participants: record.reported, metrics: metricsOf(record), ...(record.reason !== undefined ? { reason: record.reason } : {}) };
    registry.broadcast(EVENTS.roundEnd, end);
    this.emit('roundEnded', record);
    log.info(`delegated round ${record.status}`, { run: this.runId, round: req.key.round, attempt: req.key.attempt, reported: record.reported, ...(record.reason !== undefined ? { reason: record.reason } : {}) });
    return result ? { ok: true, result, record } : { ok: false, reason: record.reason ?? 'abandoned', record };
  }

  /** Ends the run once (run()'s last step; a delegating driver calls it when its parent's run ends). */
  endRun(status: RunEnd['status']): Promise<RunEnd> {
    return (this.ending ??= (async () => {
      const end: RunEnd = { runId: this.runId, status, rounds: this.round, metrics: { ...this.state.current.lastMetrics } };
      await this.deps.store.finishRun(this.runId, status);
      this.state.update({ phase: status, result: end, openRound: null });
      this.deps.registry.broadcast(EVENTS.runEnd, end);
      await this.intake.close();
      this.emit('runEnded', end);
      return end;
    })());
  }

  async run(): Promise<RunEnd> {
    const { context, registry, log } = this.deps;
    const settings = context.settings;
    const signal = this.abort.signal;
    let abandonedInARow = 0;
    let attempt = 0;
    while (this.round < settings.rounds && !signal.aborted) {
      const key: RoundKey = { round: this.round + 1, attempt: ++attempt };
      this.state.update({ phase: 'waiting' });
      const need = settings.selection.minAvailable;
      const ok = await registry.waitForClients(need, settings.waitTimeoutMs, signal);
      if (signal.aborted) break;
      let record: RoundRecord;
      if (!ok) {
        const now = Date.now();
        record = RoundRecords.notStarted(key, now - settings.waitTimeoutMs, now, `only ${registry.leafCount()} of ${need} required clients connected within ${settings.waitTimeoutMs / 1000}s`);
        void this.deps.store.recordRound(this.runId, record);
        this.emit('roundEnded', record);
      } else {
        record = await this.runAttempt(key);
      }
      if (record.status === 'completed') {
        abandonedInARow = 0;
        attempt = 0;
      } else {
        abandonedInARow++;
        log.warn('round abandoned', { run: this.runId, round: key.round, attempt: key.attempt, reason: record.reason });
        if (signal.aborted) break;
        if (settings.maxAbandonedAttempts > 0 && abandonedInARow >= settings.maxAbandonedAttempts) {
          log.error('giving up: too many abandoned attempts in a row', { run: this.runId, round: key.round, attempts: abandonedInARow });
          this.abort.abort('too many abandoned attempts');
          break;
        }
      }
    }
    return this.endRun(this.round >= settings.rounds ? 'finished' : 'stopped');
  }

  /** One attempt: collect, then abandon or aggregate, evaluate, record and announce. */
  private async runAttempt(key: RoundKey): Promise<RoundRecord> {
    const { context, strategy, registry, log } = this.deps;
    const settings = context.settings;
    const model = context.model;
    const available = registry.ids();
    const plan = planRound(settings, key, available, this.leafPlanning());
    const budget = this.privacy;
    const expected = expectedSurvivors(plan.selected.length, settings.secaggExpectedDropout);
    if (budget) {
      // Stop before a round that could take epsilon past the target (its least noise: min(minFit, expected) survivors).
      const worst = budget.costOf(plan.selected.length, available.length, Math.min(settings.selection.minFit, expected), expected);
      if (budget.wouldExceed(worst)) {
        const reason = `privacy budget: round ${key.round} could take epsilon to ${budget.peek(worst).epsilon.toFixed(3)}, above the target ${budget.settings.targetEpsilon} (delta ${budget.settings.delta}); run stopped`;
        log.warn('stopping before a round that would exceed the privacy budget', { run: this.runId, round: key.round, spent: budget.spent().epsilon });
        this.abort.abort(reason);
        const now = Date.now();
        const record = RoundRecords.notStarted(key, now, now, reason);
        await this.deps.store.recordRound(this.runId, record);
        this.emit('roundEnded', record);
        return record;
      }
    }
    // N for SCAFFOLD's control step: the clients connected when the round was planned.
    const aggregate = strategy.beginRound(model.weights, { population: available.length });
    const c = strategy.serverControl(model.numParams);
    const control = c ? encodeTensors(model.manifest, c) : undefined;
    this.state.update({ phase: 'training' });
    const privacy = budget ? { mode: budget.dp.mode, clip: budget.dp.clip, noiseMultiplier: budget.dp.noiseMultiplier, expectedSurvivors: expected } : undefined;
    const { open, secureFailure } = await this.runner.runRound({ plan, weights: model.encodedWeights(), aggregate, signal: this.abort.signal, ...(control ? { control } : {}), ...(privacy ? { privacy } : {}) });
    const charge = () => (budget && privacy ? budget.charge(budget.costOf(plan.selected.length, available.length, open.count, expected), privacy.clip) : undefined);

    const base = RoundRecords.base(open, Date.now());
    const count = open.count;
    let record: RoundRecord;
    let weights: Float32Array | undefined;
    if (secureFailure !== undefined) {
      record = RoundRecords.abandoned(base, secureFailure);
    } else if (this.abort.signal.aborted && count < plan.target) {
      record = RoundRecords.abandoned(base, open.closeReason ?? 'stopped');
    } else if (count < settings.selection.minFit) {
      const by = open.closeReason === 'deadline' ? 'the deadline' : 'the time all selected clients answered or dropped';
      record = RoundRecords.abandoned(base, `${count} update(s) by ${by}, minFit is ${settings.selection.minFit}`);
      // A secure round that finished revealed its (noised) sum to the coordinator even if too small to apply.
      const revealed = budget?.dp.mode === 'distributed' && settings.secureAggregation && count > 0 ? charge() : undefined;
      if (revealed) record.privacy = revealed;
    } else {
      this.state.update({ phase: 'aggregating' });
      const result = aggregate.finish();
      model.weights = weights = result.weights;
      record = RoundRecords.completed(base, open);
      if (Object.keys(result.metrics).length > 0) record.aggregation = { ...result.metrics };
      const spent = charge();
      if (spent) record.privacy = spent;
      let ev: Awaited<ReturnType<typeof model.evaluate>> | undefined;
      if (this.deps.testData) {
        this.state.update({ phase: 'evaluating' });
        ev = await model.evaluate(this.deps.testData);
      }
      record = RoundRecords.evaluated(record, ev, Date.now());
      for (const id of open.reported) {
        const s = registry.get(id);
        if (s) s.roundsCompleted++;
      }
    }
    await this.deps.store.recordRound(this.runId, record, weights, open.outcomes());
    if (record.status === 'completed') this.state.update({ round: key.round, lastMetrics: metricsOf(record), openRound: null });
    else this.state.update({ openRound: null });
    const end: RoundEnd = { runId: this.runId, round: key.round, status: record.status, participants: count, metrics: metricsOf(record), ...(record.reason !== undefined ? { reason: record.reason } : {}) };
    registry.broadcast(EVENTS.roundEnd, end);
    this.emit('roundEnded', record);
    log.info(`round ${record.status}`, { run: this.runId, round: key.round, attempt: key.attempt, reported: count, seconds: record.seconds, ...metricsOf(record) });
    return record;
  }

  /**
   * Delegated selection, when this level has edges among its clients or was asked for a share:
   * the plan counts leaf clients (an edge by the clients it reported) and splits the target over
   * them. Undefined otherwise, so a level of plain clients plans exactly as it always did.
   */
  private leafPlanning(share?: number): LeafPlanning | undefined {
    const { registry } = this.deps;
    if (share === undefined && !registry.sessions().some((s) => s.edge)) return undefined;
    return { leaves: (id) => { const s = registry.get(id); return s ? leavesOf(s) : 0; }, ...(share !== undefined ? { share } : {}) };
  }

  /** Where a client stands in the attempt that is collecting now ('idle' when none is, or it was not selected). */
  participation(clientId: string): EdgeState {
    const open = this.runner.current;
    if (!open || !this.state.current.openRound || !open.selected.has(clientId)) return 'idle';
    if (open.reported.has(clientId)) return 'reported';
    if (open.isDropped(clientId)) return 'dropped';
    return open.isClosed ? 'idle' : 'training';
  }

  withdraw(session: ClientSession, raw: unknown): void {
    const msg = parseClientPayload(EVENTS.withdraw, raw);
    const open = this.runner.current;
    if (msg.runId !== this.runId || !open || open.key.round !== msg.round) return;
    if (msg.attempt !== undefined && msg.attempt !== open.key.attempt) return;
    this.runner.drop(session.clientId, `withdrew: ${msg.reason}`);
  }

  async submitUpdate(session: ClientSession, raw: unknown): Promise<void> {
    try {
      await this.intake.receive(session, raw, { completedRound: this.round, open: this.runner.current });
      session.lastSeen = Date.now();
    } catch (err) {
      throw this.refused(session, err, 'update', (raw as { round?: unknown } | null)?.round);
    }
  }

  async submitSecAgg(session: ClientSession, raw: unknown): Promise<void> {
    try {
      if (!this.deps.context.settings.secureAggregation) throw new FedlinkError('bad_request', 'this run does not use secure aggregation');
      await this.secure.receive(session, raw);
      session.lastSeen = Date.now();
    } catch (err) {
      throw this.refused(session, err, 'secure-aggregation message', this.runner.current?.key.round);
    }
  }

  /** Every refusal while a round is open counts against it; each is logged and announced. */
  private refused(session: ClientSession, err: unknown, what: string, round: unknown): FedlinkError {
    const e = err instanceof FedlinkError ? err : new FedlinkError('internal', `${what} could not be processed`);
    const open = this.runner.current;
    open?.noteRejected(session.clientId);
    const r = typeof round === 'number' ? round : -1;
    this.deps.log.warn(`${what} rejected`, { run: this.runId, round: r, client: session.clientId, code: e.code, reason: e.message });
    this.emit('updateRejected', { round: r, clientId: session.clientId, code: e.code, message: e.message });
    return e;
  }
}

function viewOf(open: OpenRound): OpenRoundView {
  return {
    round: open.key.round,
    attempt: open.key.attempt,
    selected: open.selectedLeaves,
    target: open.target,
    reported: open.count,
    rejected: open.rejected,
    dropped: open.dropped.size,
    startedAt: open.startedAt,
    deadline: open.deadline,
    closed: open.isClosed,
  };
}
