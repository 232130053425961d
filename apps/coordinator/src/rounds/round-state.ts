import { EventEmitter } from 'node:events';
import type { DashboardOpenRound, Phase, RunEnd } from '@fedlink/protocol';

/** The attempt collecting updates now: what the dashboard shows of it, and a little more. */
export interface OpenRoundView extends DashboardOpenRound {
  dropped: number;
  startedAt: number;
  /** Closed: no more updates are taken; aggregation and evaluation may still be running. */
  closed: boolean;
}

/**
 * The run's round state at one instant: the one source every view reads (/api/status, the
 * dashboard feed, metrics). Snapshots are immutable; a change publishes a new one.
 */
export interface RoundSnapshot {
  runId: string;
  phase: Phase;
  /** Last completed round (0 before the first). */
  round: number;
  /** Target number of rounds. */
  rounds: number;
  openRound: OpenRoundView | null;
  /** Set once the run ended. */
  result: RunEnd | null;
  /** Metrics of the last completed round. */
  lastMetrics: Readonly<Record<string, number>>;
}

interface RoundStateEvents {
  snapshot: [RoundSnapshot];
}

/**
 * Holds the current snapshot and publishes each new one. Only the round engine writes it; views
 * call `current` or subscribe.
 */
export class RoundState extends EventEmitter<RoundStateEvents> {
  private snap: RoundSnapshot;

  constructor(initial: Omit<RoundSnapshot, 'openRound' | 'result' | 'lastMetrics' | 'phase'>) {
    super();
    this.snap = Object.freeze({ ...initial, phase: 'starting', openRound: null, result: null, lastMetrics: Object.freeze({}) });
  }

  get current(): RoundSnapshot {
    return this.snap;
  }

  /** Publishes the snapshot with `change` applied (the engine's only way to change state). */
  update(change: Partial<Omit<RoundSnapshot, 'runId' | 'rounds'>>): RoundSnapshot {
    const next: RoundSnapshot = Object.freeze({
      ...this.snap,
      ...change,
      ...(change.openRound ? { openRound: Object.freeze({ ...change.openRound }) } : {}),
    });
    this.snap = next;
    this.emit('snapshot', next);
    return next;
  }
}
