import {
  DASHBOARD_EVENTS,
  type DashboardClient,
  type DashboardOpenRound,
  type DashboardRound,
  type DashboardRun,
  type DashboardSnapshot,
  type RunEnd,
} from '@fedlink/protocol';
import type { ClientRegistry, ClientSession } from '../federation/client-registry.js';
import type { RoundEngine } from '../federation/round-engine.js';
import type { RunContext } from '../federation/run-context.js';
import type { Phase, RoundRecord } from '../state/run-history.js';

export interface DashboardSources {
  run: RunContext;
  engine: RoundEngine;
  registry: ClientRegistry;
  /** Every attempt so far, oldest first (the in-memory store's list). */
  rounds: () => readonly RoundRecord[];
}

export type Publish = (event: string, payload: unknown) => void;

/** Events that arrive in bursts (joins, accepted updates) are sent at most once per this period. */
const COALESCE_MS = 250;

/**
 * Turns engine and registry events into the dashboard feed. It decides what is public: each view
 * below copies named fields only, so keys, tokens, peers and weights can't leak by accident.
 */
export class DashboardFeed {
  private open: DashboardOpenRound | null = null;
  private clientsTimer: ReturnType<typeof setTimeout> | undefined;
  private progressTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly lastSent = { clients: 0, progress: 0 };
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly src: DashboardSources,
    private readonly publish: Publish,
  ) {
    const { engine, registry } = src;
    this.on(engine, 'phase', (phase: Phase) => publish(DASHBOARD_EVENTS.phase, { phase, round: engine.round, serverTime: Date.now() }));
    this.on(engine, 'roundStarted', (s: { round: number; attempt: number; selected: string[]; target: number; deadline: number }) => {
      this.open = { round: s.round, attempt: s.attempt, selected: s.selected.length, target: s.target, reported: 0, rejected: 0, deadline: s.deadline };
      publish(DASHBOARD_EVENTS.roundStarted, this.open);
    });
    this.on(engine, 'updateAccepted', (u: { round: number }) => {
      if (this.open && this.open.round === u.round) this.open.reported++;
      this.soon('progress');
      this.soon('clients');
    });
    this.on(engine, 'updateRejected', () => {
      if (this.open) this.open.rejected++;
      this.soon('progress');
    });
    this.on(engine, 'roundEnded', (r: RoundRecord) => {
      this.open = null;
      this.flushProgress();
      publish(DASHBOARD_EVENTS.round, roundView(r));
      // roundsCompleted changed for everyone who reported.
      this.soon('clients');
    });
    this.on(engine, 'runEnded', (end: RunEnd) => {
      this.open = null;
      publish(DASHBOARD_EVENTS.runEnded, { status: end.status, rounds: end.rounds, metrics: end.metrics });
    });
    this.on(registry, 'joined', () => this.soon('clients'));
    this.on(registry, 'left', () => this.soon('clients'));
  }

  snapshot(): DashboardSnapshot {
    const { engine, registry } = this.src;
    return {
      run: runView(this.src.run),
      status: engine.result?.status ?? 'running',
      phase: engine.phase,
      round: engine.round,
      openRound: this.open ? { ...this.open } : null,
      rounds: this.src.rounds().map(roundView),
      clients: registry.sessions().map(clientView),
      serverTime: Date.now(),
    };
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
    this.publish(DASHBOARD_EVENTS.clients, this.src.registry.sessions().map(clientView));
  }

  private flushProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    this.lastSent.progress = Date.now();
    if (this.open) this.publish(DASHBOARD_EVENTS.openRound, { ...this.open });
  }
}

export function clientView(s: ClientSession): DashboardClient {
  return {
    clientId: s.clientId,
    name: s.name ?? null,
    platform: s.platform,
    backend: s.backend,
    numExamples: s.numExamples,
    joinedAt: s.joinedAt,
    lastSeen: s.lastSeen,
    roundsCompleted: s.roundsCompleted,
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
  return v;
}

export function runView(run: RunContext): DashboardRun {
  const s = run.settings;
  return {
    runId: run.runId,
    model: run.model.name,
    numParams: run.model.numParams,
    dataset: s.dataset,
    rounds: s.rounds,
    strategy: s.strategy,
    fingerprint: run.fingerprint,
    secureAggregation: s.secureAggregation,
    encoding: s.encoding,
    selection: { fraction: s.selection.fraction, minFit: s.selection.minFit, minAvailable: s.selection.minAvailable, overSelect: s.selection.overSelect },
    fit: { epochs: s.fit.epochs, batchSize: s.fit.batchSize, learningRate: s.fit.learningRate, proximalMu: s.fit.proximalMu },
    roundTimeoutMs: s.roundTimeoutMs,
  };
}
