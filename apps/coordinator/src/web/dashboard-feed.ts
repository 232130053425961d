import {
  DASHBOARD_EVENTS,
  type DashboardClient,
  type DashboardEdgeStatus,
  type DashboardOpenRound,
  type DashboardRound,
  type DashboardRun,
  type DashboardSnapshot,
  type EdgeState,
  type RunEnd,
} from '@fedlink/protocol';
import type { ClientRegistry, ClientSession } from '../federation/client-registry.js';
import type { RunContext } from '../federation/run-context.js';
import type { EngineNotifications } from '../rounds/engine.js';
import type { OpenRoundView, RoundSnapshot, RoundState } from '../rounds/round-state.js';
import type { RoundRecord } from '../state/run-history.js';
import type { Publish } from '../state/shared-view.js';
import { describeStrategy } from '@fedlink/core';

export interface DashboardSources {
  run: RunContext;
  /** The engine's published round state: the feed keeps none of its own. */
  state: RoundState;
  /** Round records and the run's end, as the engine announces them. */
  events: EngineNotifications;
  registry: ClientRegistry;
  /** Every attempt so far, oldest first (the in-memory store's list). */
  rounds: () => readonly RoundRecord[];
  /** Where a client stands in the open attempt (the engine's participation()); absent: edges show as idle. */
  participation?: EdgeStateOf;
}

export type EdgeStateOf = (clientId: string) => EdgeState;

export type { Publish };

/** Events that arrive in bursts (joins, accepted updates) are sent at most once per this period. */
const COALESCE_MS = 250;

/**
 * Turns the engine's snapshots and the registry's events into the dashboard feed. It decides what
 * is public: each view below copies named fields only, so keys, tokens, peers and weights can't
 * leak by accident.
 */
export class DashboardFeed {
  private clientsTimer: ReturnType<typeof setTimeout> | undefined;
  private progressTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly lastSent = { clients: 0, progress: 0 };
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly src: DashboardSources,
    private readonly publish: Publish,
  ) {
    const { state, events, registry } = src;
    let prev = state.current;
    this.on(state, 'snapshot', (next: RoundSnapshot) => {
      const before = prev;
      prev = next;
      if (next.phase !== before.phase) publish(DASHBOARD_EVENTS.phase, { phase: next.phase, round: next.round, serverTime: Date.now() });
      const open = next.openRound;
      if (!open) return;
      const was = before.openRound;
      if (!was || was.round !== open.round || was.attempt !== open.attempt) {
        publish(DASHBOARD_EVENTS.roundStarted, openRoundView(open));
        // Selected edges are training now.
        if (this.hasEdges()) this.soon('clients');
        return;
      }
      if (was.reported !== open.reported || was.rejected !== open.rejected) this.soon('progress');
      // lastSeen changed for whoever reported (and an edge's last group); a dropped edge's state changed.
      if (was.reported !== open.reported || (was.dropped !== open.dropped && this.hasEdges())) this.soon('clients');
    });
    this.on(events, 'roundEnded', (r: RoundRecord) => {
      this.flushProgress();
      publish(DASHBOARD_EVENTS.round, roundView(r));
      // roundsCompleted changed for everyone who reported.
      this.soon('clients');
    });
    this.on(events, 'runEnded', (end: RunEnd) => {
      publish(DASHBOARD_EVENTS.runEnded, { status: end.status, rounds: end.rounds, metrics: end.metrics });
    });
    this.on(registry, 'joined', () => this.soon('clients'));
    this.on(registry, 'left', () => this.soon('clients'));
    this.on(registry, 'summary', () => this.soon('clients'));
  }

  snapshot(): DashboardSnapshot {
    const snap = this.src.state.current;
    return {
      run: runView(this.src.run),
      status: snap.result?.status ?? 'running',
      phase: snap.phase,
      round: snap.round,
      openRound: snap.openRound ? openRoundView(snap.openRound) : null,
      rounds: this.src.rounds().map(roundView),
      clients: this.clients(),
      serverTime: Date.now(),
    };
  }

  private clients(): DashboardClient[] {
    return this.src.registry.sessions().map((s) => clientView(s, this.src.participation));
  }

  private hasEdges(): boolean {
    return this.src.registry.sessions().some((s) => s.edge);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.clientsTimer);
    clearTimeout(this.progressTimer);
  }

  private on<A extends unknown[]>(emitter: { on(e: string, l: (...a: A) => void): unknown; off(e: string, l: (...a: A) => void): unknown }, event: string, listener: (...a: A) => void): void {
    emitter.on(event, listener);
    this.unsubscribe.push(() => emitter.off(event, listener));
  }

  /** Throttled: the first change goes out at once, a burst after it in one message per period. */
  private soon(what: 'clients' | 'progress'): void {
    const flush = what === 'clients' ? () => this.flushClients() : () => this.flushProgress();
    const wait = this.lastSent[what] + COALESCE_MS - Date.now();
    if (wait <= 0) flush();
    else if (what === 'clients') this.clientsTimer ??= setTimeout(flush, wait);
    else this.progressTimer ??= setTimeout(flush, wait);
  }

  private flushClients(): void {
    clearTimeout(this.clientsTimer);
    this.clientsTimer = undefined;
    this.lastSent.clients = Date.now();
    this.publish(DASHBOARD_EVENTS.clients, this.clients());
  }

  private flushProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.lastSent.progress = Date.now();
    const open = this.src.state.current.openRound;
    if (open) this.publish(DASHBOARD_EVENTS.openRound, openRoundView(open));
  }
}

export function openRoundView(o: OpenRoundView): DashboardOpenRound {
  return { round: o.round, attempt: o.attempt, selected: o.selected, target: o.target, reported: o.reported, rejected: o.rejected, deadline: o.deadline };
}

/** A client as the dashboard and /api/status show it; an edge also gets its state (from `participation`) and last group. */
export function clientView(s: ClientSession, participation?: EdgeStateOf): DashboardClient {
  const edge: Pick<DashboardClient, 'edge' | 'edgeStatus'> = s.edge
    ? { edge: true, edgeStatus: edgeStatusOf(s, participation?.(s.clientId) ?? 'idle') }
    : {};
  return {
    clientId: s.clientId,
    name: s.name ?? null,
    platform: s.platform,
    backend: s.backend,
    numExamples: s.numExamples,
    joinedAt: s.joinedAt,
    lastSeen: s.lastSeen,
    roundsCompleted: s.roundsCompleted,
    ...edge,
  };
}

/** An edge's line: its state here, its last group, and what it reported of its group (counts, dashboard, its own edges). */
function edgeStatusOf(s: ClientSession, state: DashboardEdgeStatus['state']): DashboardEdgeStatus {
  const sum = s.edgeSummary;
  return {
    state,
    lastRound: s.lastGroup ? { ...s.lastGroup } : null,
    clients: sum?.clients ?? 0,
    examples: sum?.examples ?? 0,
    ...(sum?.dashboardUrl !== undefined ? { dashboardUrl: sum.dashboardUrl } : {}),
    ...(sum?.edges ? { edges: sum.edges.map((e) => ({ ...e })) } : {}),
  };
}

export function roundView(r: RoundRecord): DashboardRound {
  const v: DashboardRound = {
    round: r.round,
    attempt: r.attempt,
    status: r.status,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    seconds: r.seconds,
    selected: r.selected,
    target: r.target,
    reported: r.reported,
    dropped: r.dropped,
    rejected: r.rejected,
    totalExamples: r.totalExamples,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
  };
  if (r.reason !== undefined) v.reason = r.reason;
  if (r.trainLoss !== undefined) v.trainLoss = r.trainLoss;
  if (r.trainAccuracy !== undefined) v.trainAccuracy = r.trainAccuracy;
  if (r.testLoss !== undefined) v.testLoss = r.testLoss;
  if (r.testAccuracy !== undefined) v.testAccuracy = r.testAccuracy;
  if (r.aggregation !== undefined) v.aggregation = { ...r.aggregation };
  if (r.privacy !== undefined) v.privacy = { ...r.privacy };
  return v;
}

/** The run as shown; `settings` may be a cluster's rather than the node's own (see SharedRunView). */
export function runView(run: Pick<RunContext, 'runId' | 'model' | 'fingerprint' | 'settings'>): DashboardRun {
  const s = run.settings;
  return {
    runId: run.runId,
    model: run.model.name,
    numParams: run.model.numParams,
    dataset: s.dataset,
    rounds: s.rounds,
    strategy: describeStrategy(s.strategy),
    fingerprint: run.fingerprint,
    secureAggregation: s.secureAggregation,
    encoding: s.encoding,
    selection: { fraction: s.selection.fraction, minFit: s.selection.minFit, minAvailable: s.selection.minAvailable, overSelect: s.selection.overSelect },
    fit: { epochs: s.fit.epochs, batchSize: s.fit.batchSize, learningRate: s.fit.learningRate, proximalMu: s.fit.proximalMu },
    roundTimeoutMs: s.roundTimeoutMs,
  };
}
