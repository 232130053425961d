import type { DashboardRound } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { ClientOutcome } from '../rounds/open-round.js';

/**
 * One attempt at a round: completed, or abandoned with a reason (then retried). The wire type
 * in @fedlink/protocol is the one definition: /api/rounds and the dashboard serve it as is.
 */
export type RoundRecord = DashboardRound;

export interface RunInfo {
  runId: string;
  createdAt: number;
  settings: RunSettings;
  status: 'running' | 'finished' | 'stopped';
  /** Last completed round (0 before the first). */
  round: number;
}

/**
 * Where the engine records a run as it goes. The in-memory store serves REST and the simulator;
 * a persistent store (SQLite + checkpoints) implements the same interface.
 */
export interface RunStore {
  startRun(info: RunInfo, initialWeights: Float32Array): void | Promise<void>;
  /**
   * Called once per attempt; for completed rounds with the new global weights, and with what
   * came of each selected client when the attempt got as far as selecting.
   */
  recordRound(runId: string, record: RoundRecord, weights?: Float32Array, participation?: readonly { clientId: string; outcome: ClientOutcome }[]): void | Promise<void>;
  finishRun(runId: string, status: 'finished' | 'stopped'): void | Promise<void>;
}

export class InMemoryRunStore implements RunStore {
  run: RunInfo | undefined;
  readonly rounds: RoundRecord[] = [];

  startRun(info: RunInfo): void {
    this.run = { ...info };
    this.rounds.length = 0;
  }

  recordRound(_runId: string, record: RoundRecord): void {
    this.rounds.push(record);
    if (this.run && record.status === 'completed') this.run.round = record.round;
  }

  finishRun(_runId: string, status: 'finished' | 'stopped'): void {
    if (this.run) this.run.status = status;
  }
}
