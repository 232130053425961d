import pg from 'pg';
import type { RoundRecord, RunInfo } from '../state/run-history.js';
import { CheckpointError, decodeCheckpoint } from './checkpoint-file.js';
import { type ClientEvent, type ClientRow, type LoadedCheckpoint, type Participation, type RunRow, type StoredCheckpoint, type StoredClient, type StoredRun, toRun, toStoredClient } from './run-archive.js';
import type { EncodedCheckpoint, RunRecords } from './run-records.js';
import { PostgresJoinTokens } from './postgres-join-tokens.js';

/**
 * Schema migrations, applied in order under an advisory lock (several nodes of a cluster may
 * start at once); `fedlink_schema.version` records how many ran. Append only. The tables mirror
 * the SQLite ones; a checkpoint is a bytea row with the sha256 of its body, verified on read.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    run_id         TEXT PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    settings       TEXT NOT NULL,
    status         TEXT NOT NULL,
    round          INTEGER NOT NULL DEFAULT 0,
    finished_at    BIGINT,
    interrupted_at BIGINT,
    seq            BIGSERIAL
  );
  CREATE TABLE rounds (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    round       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL,
    record      TEXT NOT NULL
  );
  CREATE INDEX rounds_by_run ON rounds(run_id, round);
  CREATE TABLE checkpoints (
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    round       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (run_id, round)
  );
  CREATE TABLE clients (
    client_id       TEXT PRIMARY KEY,
    sign_public_key TEXT NOT NULL,
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    platform        TEXT,
    backend         TEXT,
    name            TEXT,
    address         TEXT
  );
  CREATE TABLE participation (
    run_id      TEXT NOT NULL,
    round       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    client_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    PRIMARY KEY (run_id, round, attempt, client_id)
  );
  `,
  // The fencing token of the cluster leader that last wrote the run: writes of an older one are refused.
  `ALTER TABLE runs ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;`,
  // Join tokens shared by a cluster's nodes (PostgresJoinTokens), as the state dir's SQLite has them.
  `
  CREATE TABLE join_tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    label       TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    max_uses    INTEGER,
    revoked_at  BIGINT
  );
  CREATE TABLE join_token_uses (
    token_id    TEXT NOT NULL REFERENCES join_tokens(id),
    client_id   TEXT NOT NULL,
    used_at     BIGINT NOT NULL,
    PRIMARY KEY (token_id, client_id)
  );
  `,
];

/** Any 64-bit key for pg_advisory_xact_lock: "fedlink" in ASCII. */
const MIGRATION_LOCK = 0x6665646c696e6bn;

// BIGINT (oid 20) columns hold millisecond timestamps, far below 2^53: read them as numbers.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as unknown as pg.CustomTypesConfig['getTypeParser'],
};


interface CheckpointRow {
  run_id: string;
  round: number;
  sha256: string;
  bytes: number;
  created_at: number;
}


const toCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({
  runId: r.run_id,
  round: r.round,
  file: `postgres:checkpoints/${r.run_id}/${r.round}`,
  sha256: r.sha256,
  bytes: r.bytes,
  createdAt: r.created_at,
});

export class PostgresError extends Error {
  override readonly name = 'PostgresError';
}

/** A write by a cluster leader whose fencing token is older than the run's: a newer leader took over. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

/** RunRecords in PostgreSQL, shared by the nodes of a cluster. */
export class PostgresRunRecords implements RunRecords {
  readonly location: string;

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
    /** Set on a leader's view (fenced()): every write checks it against the run's, in its transaction. */
    private readonly fence?: number,
  ) {
    const u = new URL(url);
    u.password = '';
    this.location = u.toString();
  }

  /** A view of the same database whose writes carry this fencing token (FencedError once a newer one claimed the run). */
  fenced(token: number): PostgresRunRecords {
    return new PostgresRunRecords(this.pool, this.location, token);
  }

  /** Raises the run's fence to this view's token; false when a newer leader already holds a higher one (or there is no such run). */
  async claim(runId: string): Promise<boolean> {
    if (this.fence === undefined) throw new Error('claim() needs a fenced() view');
    const r = await this.pool.query('UPDATE runs SET fence = $1 WHERE run_id = $2 AND fence <= $1', [this.fence, runId]);
    return r.rowCount === 1;
  }

  private async checkFence(c: pg.PoolClient, runId: string): Promise<void> {
    if (this.fence === undefined) return;
    const r = await c.query('UPDATE runs SET fence = $1 WHERE run_id = $2 AND fence <= $1', [this.fence, runId]);
    if (r.rowCount !== 1) throw new FencedError(`run ${runId}: fencing token ${this.fence} is older than the run's (a newer leader took over); nothing written`);
  }

  /** Connects, and creates or upgrades the schema. A database that can't be reached is a PostgresError saying where. */
  static async open(url: string): Promise<PostgresRunRecords> {
    if (!/^postgres(ql)?:\/\//.test(url)) throw new PostgresError(`--database must be a postgres:// URL, got '${url.slice(0, 80)}'`);
    const pool = new pg.Pool({ connectionString: url, max: 8, types, connectionTimeoutMillis: 10_000 });
    // An idle client that loses its connection must not crash the process.
    pool.on('error', () => undefined);
    const records = new PostgresRunRecords(pool, url);
    try {
      await records.migrate();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new PostgresError(`cannot open ${records.location}: ${(e as Error).message}`);
    }
    return records;
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
      await c.query('CREATE TABLE IF NOT EXISTS fedlink_schema (version INTEGER NOT NULL)');
      const r = await c.query<{ version: number }>('SELECT version FROM fedlink_schema');
      let version = r.rows[0]?.version ?? 0;
      if (r.rows.length === 0) await c.query('INSERT INTO fedlink_schema (version) VALUES (0)');
      for (; version < MIGRATIONS.length; version++) await c.query(MIGRATIONS[version]!);
      await c.query('UPDATE fedlink_schema SET version = $1', [version]);
    });
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  private async rows<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pool.query<R>(sql, params)).rows;
  }

  // ---- runs

  async insertRun(info: RunInfo): Promise<void> {
    await this.pool.query('INSERT INTO runs (run_id, created_at, settings, status, round) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING', [
      info.runId,
      info.createdAt,
      JSON.stringify(info.settings),
      info.status,
      info.round,
    ]);
  }

  async setRunStatus(runId: string, status: RunInfo['status'], at = Date.now()): Promise<void> {
    await this.tx(async (c) => {
      await this.checkFence(c, runId);
      await c.query('UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3', [status, status === 'running' ? null : at, runId]);
    });
  }

  async markInterrupted(runId: string, at = Date.now()): Promise<void> {
    await this.pool.query('UPDATE runs SET interrupted_at = $1 WHERE run_id = $2', [at, runId]);
  }

  async runs(): Promise<StoredRun[]> {
    return (await this.rows<RunRow>('SELECT * FROM runs ORDER BY created_at DESC, seq DESC')).map(toRun);
  }

  async run(runId: string): Promise<StoredRun | undefined> {
    const r = (await this.rows<RunRow>('SELECT * FROM runs WHERE run_id = $1', [runId]))[0];
    return r && toRun(r);
  }

  async latestUnfinished(): Promise<StoredRun | undefined> {
    const r = (await this.rows<RunRow>("SELECT * FROM runs WHERE status = 'running' ORDER BY created_at DESC, seq DESC LIMIT 1"))[0];
    return r && toRun(r);
  }

  // ---- rounds and checkpoints

  async saveCheckpoint(c: EncodedCheckpoint): Promise<void> {
    await this.tx(async (client) => {
      await this.checkFence(client, c.runId);
      await this.insertCheckpoint(client, c);
    });
  }

  async saveRound(runId: string, record: RoundRecord, checkpoint?: EncodedCheckpoint): Promise<void> {
    await this.tx(async (c) => {
      await this.checkFence(c, runId);
      await c.query('INSERT INTO rounds (run_id, round, attempt, status, reason, started_at, ended_at, record) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
        runId,
        record.round,
        record.attempt,
        record.status,
        record.reason ?? null,
        record.startedAt,
        record.endedAt,
        JSON.stringify(record),
      ]);
      if (checkpoint) await this.insertCheckpoint(c, checkpoint);
      if (record.status === 'completed') await c.query('UPDATE runs SET round = $1 WHERE run_id = $2', [record.round, runId]);
    });
  }

  private async insertCheckpoint(c: pg.PoolClient, ck: EncodedCheckpoint): Promise<void> {
    await c.query(
      `INSERT INTO checkpoints (run_id, round, sha256, bytes, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (run_id, round) DO UPDATE SET sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, created_at = EXCLUDED.created_at, data = EXCLUDED.data`,
      [ck.runId, ck.round, ck.sha256, ck.bytes.length, Date.now(), ck.bytes],
    );
  }

  async rounds(runId: string): Promise<RoundRecord[]> {
    return (await this.rows<{ record: string }>('SELECT record FROM rounds WHERE run_id = $1 ORDER BY id', [runId])).map((r) => JSON.parse(r.record) as RoundRecord);
  }

  async rewindTo(runId: string, round: number): Promise<void> {
    await this.tx(async (c) => {
      await this.checkFence(c, runId);
      await c.query("DELETE FROM rounds WHERE run_id = $1 AND round > $2 AND status = 'completed'", [runId, round]);
      await c.query('DELETE FROM checkpoints WHERE run_id = $1 AND round > $2', [runId, round]);
      await c.query('UPDATE runs SET round = $1 WHERE run_id = $2', [round, runId]);
    });
  }

  async checkpoints(runId: string): Promise<StoredCheckpoint[]> {
    return (await this.rows<CheckpointRow>('SELECT run_id, round, sha256, bytes, created_at FROM checkpoints WHERE run_id = $1 ORDER BY round DESC', [runId])).map(toCheckpoint);
  }

  async pruneCheckpoints(runId: string, keep: number): Promise<void> {
    if (keep <= 0) return;
    await this.pool.query('DELETE FROM checkpoints WHERE run_id = $1 AND round NOT IN (SELECT round FROM checkpoints WHERE run_id = $1 ORDER BY round DESC LIMIT $2)', [runId, keep]);
  }

  async loadLatestCheckpoint(runId: string, atMostRound = Infinity): Promise<LoadedCheckpoint | undefined> {
    const skipped: { round: number; reason: string }[] = [];
    for (const stored of await this.checkpoints(runId)) {
      if (stored.round > atMostRound) continue;
      try {
        const row = (await this.rows<{ data: Buffer }>('SELECT data FROM checkpoints WHERE run_id = $1 AND round = $2', [runId, stored.round]))[0];
        if (!row) throw new CheckpointError('row removed while reading');
        const checkpoint = decodeCheckpoint(row.data, stored.sha256);
        if (checkpoint.runId !== runId || checkpoint.round !== stored.round) throw new CheckpointError(`row holds run ${checkpoint.runId} round ${checkpoint.round}`);
        return { checkpoint, stored, skipped };
      } catch (e) {
        skipped.push({ round: stored.round, reason: e instanceof CheckpointError ? e.message : String(e) });
      }
    }
    return undefined;
  }

  // ---- clients and participation

  async writeClients(events: readonly ClientEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.tx(async (c) => {
      for (const e of events) {
        if (e.kind === 'joined') {
          await c.query(
            `INSERT INTO clients (client_id, sign_public_key, first_seen, last_seen, platform, backend, name, address) VALUES ($1, $2, $3, $3, $4, $5, $6, $7)
             ON CONFLICT (client_id) DO UPDATE SET last_seen = $3, platform = $4, backend = $5, name = $6, address = $7`,
            [e.clientId, e.signPublicKey, e.at, e.platform, e.backend, e.name ?? null, e.address],
          );
        } else await c.query('UPDATE clients SET last_seen = $1 WHERE client_id = $2', [e.at, e.clientId]);
      }
    });
  }

  async recordParticipation(runId: string, rows: Participation[]): Promise<void> {
    if (rows.length === 0) return;
    await this.tx(async (c) => {
      for (const p of rows) {
        await c.query(
          'INSERT INTO participation (run_id, round, attempt, client_id, outcome) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, round, attempt, client_id) DO UPDATE SET outcome = EXCLUDED.outcome',
          [runId, p.round, p.attempt, p.clientId, p.outcome],
        );
      }
    });
  }

  async participation(runId: string): Promise<Participation[]> {
    const rows = await this.rows<{ round: number; attempt: number; client_id: string; outcome: Participation['outcome'] }>(
      'SELECT round, attempt, client_id, outcome FROM participation WHERE run_id = $1 ORDER BY round, attempt, client_id',
      [runId],
    );
    return rows.map((r) => ({ round: r.round, attempt: r.attempt, clientId: r.client_id, outcome: r.outcome }));
  }

  async clients(runId: string): Promise<StoredClient[]> {
    const rows = await this.rows<ClientRow>(
      `SELECT c.*, (SELECT COUNT(*)::int FROM participation p JOIN rounds r ON r.run_id = p.run_id AND r.round = p.round AND r.attempt = p.attempt AND r.status = 'completed'
                    WHERE p.run_id = $1 AND p.client_id = c.client_id AND p.outcome = 'reported') AS rounds_completed
       FROM clients c WHERE c.client_id IN (SELECT client_id FROM participation WHERE run_id = $1) ORDER BY c.first_seen`,
      [runId],
    );
    return rows.map(toStoredClient);
  }

  /** The join tokens in the same database (valid on every node that opens it). */
  joinTokens(): PostgresJoinTokens {
    return new PostgresJoinTokens(this.pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
