import Database from 'better-sqlite3';
import { join } from 'node:path';

export type Db = Database.Database;

/** File name of the coordinator's database inside the state directory. */
export const DB_FILE = 'fedlink.db';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
 * a state directory written by an older coordinator is upgraded in place.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    settings     TEXT NOT NULL,            -- RunSettings as JSON
    status       TEXT NOT NULL,            -- running | finished | stopped
    round        INTEGER NOT NULL DEFAULT 0, -- last completed round
    finished_at  INTEGER,
    interrupted_at INTEGER                 -- last graceful shutdown that left the run resumable
  );
  CREATE TABLE rounds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    round       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL,             -- completed | abandoned
    reason      TEXT,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    record      TEXT NOT NULL              -- the full RoundRecord as JSON (metrics, counts, bytes)
  );
  CREATE INDEX rounds_by_run ON rounds(run_id, round);
  CREATE TABLE checkpoints (
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    round       INTEGER NOT NULL,
    file        TEXT NOT NULL,             -- relative to the state directory
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, round)
  );
  CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    sign_public_key TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    platform    TEXT,
    backend     TEXT,
    name        TEXT,
    address     TEXT
  );
  CREATE TABLE participation (
    run_id      TEXT NOT NULL,
    round       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    client_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL,             -- reported | dropped | rejected
    PRIMARY KEY (run_id, round, attempt, client_id)
  );
  CREATE TABLE join_tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,      -- sha256 of the token; the token itself is never stored
    label       TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    max_uses    INTEGER,
    revoked_at  INTEGER
  );
  CREATE TABLE join_token_uses (
    token_id    TEXT NOT NULL REFERENCES join_tokens(id),
    client_id   TEXT NOT NULL,
    used_at     INTEGER NOT NULL,
    PRIMARY KEY (token_id, client_id)
  );
  `,
];

/** Opens (and migrates) the state directory's database. */
export function openDatabase(stateDir: string): Db {
  const db = new Database(join(stateDir, DB_FILE));
  // WAL: readers (fedlink runs/token from another process) never block the coordinator;
  // synchronous=FULL: a committed round survives a crash of the process or of the machine.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
