import type { StrategySpec } from '@fedlink/core';
import type { RunSettings } from '../config.js';
import type { Log } from '../log.js';
import type { StoredRun } from './run-archive.js';
import type { RunRecords } from './run-records.js';

/** Where a restarted coordinator picks a run up. */
export interface ResumePoint {
  run: StoredRun;
  /** Last completed round whose checkpoint verified (0: the seeded initial model). */
  round: number;
  /** Global weights after `round`; absent when the run restarts from its seeded initial model. */
  weights?: Float32Array;
  serverState: Record<string, Float32Array>;
  /** The strategy the checkpoint's state was written by, when the checkpoint says. */
  strategy?: StrategySpec;
}

/**
 * The newest unfinished run (SQLite or PostgreSQL records) and the newest checkpoint of it that verifies. Corrupt or missing
 * checkpoints are skipped (and logged), falling back to the previous one; rounds recorded after
 * the checkpoint used are rewound, since the model they produced is gone. With no usable
 * checkpoint at all the run restarts from round 0, whose model is regenerated from the seed.
 */
export async function findResumePoint(archive: Pick<RunRecords, 'latestUnfinished' | 'loadLatestCheckpoint' | 'rewindTo'>, log: Log): Promise<ResumePoint | undefined> {
  const run = await archive.latestUnfinished();
  if (!run) return undefined;
  const loaded = await archive.loadLatestCheckpoint(run.runId);
  for (const s of loaded?.skipped ?? []) {
    log.warn('checkpoint unusable, falling back to the previous one', { run: run.runId, round: s.round, reason: s.reason });
  }
  const round = loaded?.stored.round ?? 0;
  if (!loaded && run.round > 0) log.warn('no usable checkpoint: restarting the run from its seeded initial model', { run: run.runId, lostRounds: run.round });
  if (round < run.round) {
    log.warn('rewinding the run to its last verified checkpoint', { run: run.runId, from: run.round, to: round });
    await archive.rewindTo(run.runId, round);
  }
  return {
    run: { ...run, round },
    round,
    ...(loaded && loaded.stored.round > 0 ? { weights: loaded.checkpoint.weights } : {}),
    serverState: loaded?.checkpoint.serverState ?? {},
    ...(loaded?.checkpoint.strategy ? { strategy: loaded.checkpoint.strategy } : {}),
  };
}

/** Settings given on the command line that differ from the resumed run's (they are ignored). */
export function settingsDiff(stored: RunSettings, given: RunSettings): string[] {
  const a = stored as unknown as Record<string, unknown>;
  const b = given as unknown as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}
