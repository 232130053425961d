import { join } from 'node:path';
import { normalizeRunSettings } from '../config.js';
import type { ClientOutcome } from '../rounds/open-round.js';
import type { RoundRecord, RunInfo } from '../state/run-history.js';
import { type CheckpointData, CheckpointError, readCheckpointFile } from './checkpoint-file.js';
import type { Db } from './database.js';

export interface StoredRun extends RunInfo {
  finishedAt?: number;
  interruptedAt?: number;
}

export interface StoredCheckpoint {
  runId: string;
  round: number;
  file: string;
  sha256: string;
  bytes: number;
  createdAt: number;
}

export interface Participation {
  round: number;
  attempt: number;
  clientId: string;
  outcome: ClientOutcome;
}

export interface StoredClient {
  clientId: string;
  signPublicKey: string;
  firstSeen: number;
  lastSeen: number;
  platform: string | null;
  backend: string | null;
  name: string | null;
  roundsCompleted: number;
}

/** A checkpoint that could be loaded, and the newer ones that could not (and why). */
export interface LoadedCheckpoint {
  checkpoint: CheckpointData;
  stored: StoredCheckpoint;
  skipped: { round: number; reason: string }[];
}

/** A `runs` row as both stores (SQLite, PostgreSQL) read it. */
export interface RunRow {
  run_id: string;
  created_at: number;
  settings: string;
  status: RunInfo['status'];
  round: number;
  finished_at: number | null;
  interrupted_at: number | null;
}

interface CheckpointRow {
  run_id: string;
  round: number;
  file: string;
  sha256: string;
  bytes: number;
  created_at: number;
}

/** A run's client as both stores' client query returns it (clients row + its completed rounds). */
export interface ClientRow {
  client_id: string;
  sign_public_key: string;
  first_seen: number;
  last_seen: number;
  platform: string | null;
  backend: string | null;
  name: string | null;
  rounds_completed: number;
}

export const toStoredClient = (r: ClientRow): StoredClient => ({
  clientId: r.client_id,
  signPublicKey: r.sign_public_key,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  platform: r.platform,
  backend: r.backend,
  name: r.name,
  roundsCompleted: r.rounds_completed,
});

/** A stored run from its row (either store). */
export const toRun = (r: RunRow): StoredRun => ({
  runId: r.run_id,
  createdAt: r.created_at,
  // Runs stored before strategies were specs carry a preset name; they load in today's shape.
  settings: normalizeRunSettings(JSON.parse(r.settings)),
  status: r.status,
  round: r.round,
  ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
  ...(r.interrupted_at !== null ? { interruptedAt: r.interrupted_at } : {}),
});

const toCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({ runId: r.run_id, round: r.round, file: r.file, sha256: r.sha256, bytes: r.bytes, createdAt: r.created_at });

/** A client as it joined. */
export interface ClientSeen {
  clientId: string;
  signPublicKey: string;
  platform: string;
  backend: string;
  name?: string;
  address: string;
  at: number;
}

/** What the clients table records: a join (insert or refresh) or a leave (last seen). */
export type ClientEvent = ({ kind: 'joined' } & ClientSeen) | { kind: 'left'; clientId: string; at: number };

/**
 * Runs, rounds, checkpoints, clients and participation in the state directory's database: what
 * the coordinator writes as it goes, and what `fedlink runs` and the REST API read back.
 */
export class RunArchive {
  constructor(
    readonly db: Db,
    readonly stateDir: string,
  ) {}

  // ---- runs

  insertRun(info: RunInfo): void {
    this.db
      .prepare('INSERT OR IGNORE INTO runs (run_id, created_at, settings, status, round) VALUES (?, ?, ?, ?, ?)')
      .run(info.runId, info.createdAt, JSON.stringify(info.settings), info.status, info.round);
  }

  setRunStatus(runId: string, status: RunInfo['status'], at = Date.now()): void {
    this.db.prepare('UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?').run(status, status === 'running' ? null : at, runId);
  }

  markInterrupted(runId: string, at = Date.now()): void {
    this.db.prepare('UPDATE runs SET interrupted_at = ? WHERE run_id = ?').run(at, runId);
  }

  runs(): StoredRun[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC').all() as RunRow[]).map(toRun);
  }

  run(runId: string): StoredRun | undefined {
    const r = this.db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as RunRow | undefined;
    return r && toRun(r);
  }

  /** The newest run still marked running: what a restarted coordinator resumes. */
  latestUnfinished(): StoredRun | undefined {
    const r = this.db.prepare("SELECT * FROM runs WHERE status = 'running' ORDER BY created_at DESC, rowid DESC LIMIT 1").get() as RunRow | undefined;
    return r && toRun(r);
  }

  // ---- rounds

  /** Records a round attempt; for a completed round also its checkpoint, in one transaction. */
  recordRound(runId: string, record: RoundRecord, checkpoint?: StoredCheckpoint): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO rounds (run_id, round, attempt, status, reason, started_at, ended_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(runId, record.round, record.attempt, record.status, record.reason ?? null, record.startedAt, record.endedAt, JSON.stringify(record));
      if (checkpoint) this.insertCheckpoint(checkpoint);
      if (record.status === 'completed') this.db.prepare('UPDATE runs SET round = ? WHERE run_id = ?').run(record.round, runId);
    })();
  }

  rounds(runId: string): RoundRecord[] {
    return (this.db.prepare('SELECT record FROM rounds WHERE run_id = ? ORDER BY id').all(runId) as { record: string }[]).map((r) => JSON.parse(r.record) as RoundRecord);
  }

  /**
   * A resumed run goes back to `round`: completed records after it are history of a model that
   * no longer exists (their checkpoints were unusable), so they are removed with their checkpoints.
   */
  rewindTo(runId: string, round: number): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM rounds WHERE run_id = ? AND round > ? AND status = 'completed'").run(runId, round);
      this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND round > ?').run(runId, round);
      this.db.prepare('UPDATE runs SET round = ? WHERE run_id = ?').run(round, runId);
    })();
  }

  // ---- checkpoints

  insertCheckpoint(c: StoredCheckpoint): void {
    this.db
      .prepare('INSERT OR REPLACE INTO checkpoints (run_id, round, file, sha256, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(c.runId, c.round, c.file, c.sha256, c.bytes, c.createdAt);
  }

  deleteCheckpoint(runId: string, round: number): void {
    this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND round = ?').run(runId, round);
  }

  /** Newest first. */
  checkpoints(runId: string): StoredCheckpoint[] {
    return (this.db.prepare('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY round DESC').all(runId) as CheckpointRow[]).map(toCheckpoint);
  }

  checkpointPath(c: StoredCheckpoint): string {
    return join(this.stateDir, c.file);
  }

  /**
   * The newest checkpoint of the run that reads back with its recorded sha256. A corrupt or
   * missing file falls back to the one before, and the caller is told which were skipped.
   */
  async loadLatestCheckpoint(runId: string, atMostRound = Infinity): Promise<LoadedCheckpoint | undefined> {
    const skipped: { round: number; reason: string }[] = [];
    for (const stored of this.checkpoints(runId)) {
      if (stored.round > atMostRound) continue;
      try {
        const checkpoint = await readCheckpointFile(this.checkpointPath(stored), stored.sha256);
        if (checkpoint.runId !== runId || checkpoint.round !== stored.round) throw new CheckpointError(`file holds run ${checkpoint.runId} round ${checkpoint.round}`);
        return { checkpoint, stored, skipped };
      } catch (e) {
        skipped.push({ round: stored.round, reason: e instanceof CheckpointError ? e.message : String(e) });
      }
    }
    return undefined;
  }

  // ---- clients and participation

  upsertClient(c: ClientSeen): void {
    this.writeClients([{ kind: 'joined', ...c }]);
  }

  touchClient(clientId: string, at = Date.now()): void {
    this.writeClients([{ kind: 'left', clientId, at }]);
  }

  /** Joins and leaves in order, in one transaction (one WAL sync for a whole burst of them). */
  writeClients(events: readonly ClientEvent[]): void {
    if (events.length === 0) return;
    const upsert = this.db.prepare(
      `INSERT INTO clients (client_id, sign_public_key, first_seen, last_seen, platform, backend, name, address)
       VALUES (@clientId, @signPublicKey, @at, @at, @platform, @backend, @name, @address)
       ON CONFLICT(client_id) DO UPDATE SET last_seen = @at, platform = @platform, backend = @backend, name = @name, address = @address`,
    );
    const touch = this.db.prepare('UPDATE clients SET last_seen = ? WHERE client_id = ?');
    this.db.transaction(() => {
      for (const e of events) {
        if (e.kind === 'joined') {
          const { kind: _, ...c } = e;
          upsert.run({ ...c, name: c.name ?? null });
        } else touch.run(e.at, e.clientId);
      }
    })();
  }

  recordParticipation(runId: string, rows: Participation[]): void {
    const ins = this.db.prepare('INSERT OR REPLACE INTO participation (run_id, round, attempt, client_id, outcome) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const p of rows) ins.run(runId, p.round, p.attempt, p.clientId, p.outcome);
    })();
  }

  participation(runId: string): Participation[] {
    return (
      this.db.prepare('SELECT round, attempt, client_id, outcome FROM participation WHERE run_id = ? ORDER BY round, attempt, client_id').all(runId) as {
        round: number;
        attempt: number;
        client_id: string;
        outcome: Participation['outcome'];
      }[]
    ).map((r) => ({ round: r.round, attempt: r.attempt, clientId: r.client_id, outcome: r.outcome }));
  }

  /** Clients that took part in a run, with the completed rounds they reported in. */
  clients(runId: string): StoredClient[] {
    return (
      this.db
        .prepare(
          `SELECT c.*, (SELECT COUNT(*) FROM participation p JOIN rounds r ON r.run_id = p.run_id AND r.round = p.round AND r.attempt = p.attempt AND r.status = 'completed'
                        WHERE p.run_id = @runId AND p.client_id = c.client_id AND p.outcome = 'reported') AS rounds_completed
           FROM clients c WHERE c.client_id IN (SELECT client_id FROM participation WHERE run_id = @runId) ORDER BY c.first_seen`,
        )
        .all({ runId }) as ClientRow[]
    ).map(toStoredClient);
  }
}
