import type { RoundRecord, RunInfo } from '../state/run-history.js';
import type { ClientEvent, LoadedCheckpoint, Participation, StoredCheckpoint, StoredClient, StoredRun } from './run-archive.js';

/** A value now (SQLite) or later (PostgreSQL). */
export type Awaitable<T> = T | Promise<T>;

/** A checkpoint as encoded by `encodeCheckpoint`: the bytes and the sha256 of their body. */
export interface EncodedCheckpoint {
  runId: string;
  round: number;
  bytes: Buffer;
  sha256: string;
}

/**
 * The durable records of runs: runs, round attempts, checkpoints, clients and participation.
 * One interface, two places: the embedded SQLite database plus checkpoint files of a state
 * directory (`SqliteRunRecords`, the single-node default), and a PostgreSQL database that the
 * nodes of a cluster share (`PostgresRunRecords`). The round engine reaches it only through
 * `PersistentRunStore`; resume reads it through `findResumePoint`.
 */
export interface RunRecords {
  /** Where the records live, for logs (`sqlite:/path/fedlink.db`, `postgres://host/db`). */
  readonly location: string;
  insertRun(info: RunInfo): Awaitable<void>;
  setRunStatus(runId: string, status: RunInfo['status'], at?: number): Awaitable<void>;
  markInterrupted(runId: string, at?: number): Awaitable<void>;
  runs(): Awaitable<StoredRun[]>;
  run(runId: string): Awaitable<StoredRun | undefined>;
  /** The newest run still marked running: what a restarted coordinator (or a new leader) resumes. */
  latestUnfinished(): Awaitable<StoredRun | undefined>;
  rounds(runId: string): Awaitable<RoundRecord[]>;
  /** Drops completed rounds and checkpoints after `round` and sets the run back to it. */
  rewindTo(runId: string, round: number): Awaitable<void>;
  /** Stores a checkpoint outside a round record (round 0: the seeded initial model). */
  saveCheckpoint(c: EncodedCheckpoint): Promise<void>;
  /** Records a round attempt; a completed one with its checkpoint, atomically (a committed round always has its checkpoint). */
  saveRound(runId: string, record: RoundRecord, checkpoint?: EncodedCheckpoint): Promise<void>;
  /** Newest first. */
  checkpoints(runId: string): Awaitable<StoredCheckpoint[]>;
  /** Keeps the newest `keep` checkpoints of the run (0 keeps all). */
  pruneCheckpoints(runId: string, keep: number): Promise<void>;
  /** The newest checkpoint that reads back with its recorded sha256; newer unusable ones are listed as skipped. */
  loadLatestCheckpoint(runId: string, atMostRound?: number): Promise<LoadedCheckpoint | undefined>;
  writeClients(events: readonly ClientEvent[]): Awaitable<void>;
  recordParticipation(runId: string, rows: Participation[]): Awaitable<void>;
  participation(runId: string): Awaitable<Participation[]>;
  clients(runId: string): Awaitable<StoredClient[]>;
  close(): Awaitable<void>;
}
