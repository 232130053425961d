import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  DEFAULT_RUN,
  PersistentRunStore,
  FencedError,
  PostgresError,
  PostgresRunRecords,
  type RoundRecord,
  RunArchive,
  type RunRecords,
  SqliteRunRecords,
  findResumePoint,
  openDatabase,
} from '@fedlink/coordinator';
import { type PostgresService, startPostgres } from '../helpers/services.js';

/**
 * One contract for both places run records live: the embedded SQLite state directory and the
 * PostgreSQL database a cluster shares (a real postgres, started for this file).
 */

const record = (round: number, status: RoundRecord['status'] = 'completed', attempt = 1): RoundRecord => ({
  round, attempt, status, startedAt: round, endedAt: round + 1, seconds: 1, selected: 2, target: 2, reported: 2, dropped: 0, rejected: 0, totalExamples: 10, bytesIn: 0, bytesOut: 0,
});

function logSink() {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { warnings, log: { debug() {}, info() {}, error() {}, warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, ...(fields ? { fields } : {}) }) } };
}

interface Backend {
  records: RunRecords;
  /** Flips the last byte of a stored checkpoint (a bit rot the sha256 must catch). */
  corrupt(runId: string, round: number): Promise<void>;
  done(): Promise<void>;
}

let postgres: PostgresService;
let dbCounter = 0;

beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
});

async function sqliteBackend(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-records-'));
  const archive = new RunArchive(openDatabase(dir), dir);
  const records = new SqliteRunRecords(archive);
  return {
    records,
    async corrupt(runId, round) {
      const c = archive.checkpoints(runId).find((x) => x.round === round)!;
      const bytes = await readFile(archive.checkpointPath(c));
      bytes[bytes.length - 1]! ^= 0xff;
      await writeFile(archive.checkpointPath(c), bytes);
    },
    async done() {
      records.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database per test on the one server. */
async function postgresBackend(): Promise<Backend> {
  const name = `records_${process.pid}_${++dbCounter}`;
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = postgres.url.replace(/\/fedlink$/, `/${name}`);
  const records = await PostgresRunRecords.open(url);
  return {
    records,
    async corrupt(runId, round) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const r = await c.query("UPDATE checkpoints SET data = overlay(data placing decode(lpad(to_hex(get_byte(data, length(data) - 1) # 255), 2, '0'), 'hex') from length(data)) WHERE run_id = $1 AND round = $2", [runId, round]);
      await c.end();
      expect(r.rowCount).toBe(1);
    },
    async done() {
      await records.close();
    },
  };
}

describe.each([
  ['sqlite', sqliteBackend],
  ['postgres', postgresBackend],
] as const)('run records on %s', (_name, make) => {
  let b: Backend;
  beforeEach(async () => {
    b = await make();
  });
  afterEach(async () => {
    await b.done();
  });

  async function runOf(rounds: number, keep: number) {
    const store = new PersistentRunStore(b.records, { keepCheckpoints: keep, serverState: () => ({ velocity: new Float32Array([7, 8, 9]) }) });
    await store.startRun({ runId: 'run_a', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 }, new Float32Array([0, 0, 0]));
    for (let r = 1; r <= rounds; r++) {
      await store.recordRound('run_a', record(r), new Float32Array([r, r + 0.5, -r]), [
        { clientId: 'c1', outcome: 'reported' },
        { clientId: 'c2', outcome: r === 2 ? 'dropped' : 'reported' },
      ]);
    }
    return store;
  }

  test('resume picks the newest checkpoint with its exact weights and server state', async () => {
    await runOf(3, 0);
    const { log, warnings } = logSink();
    const p = (await findResumePoint(b.records, log))!;
    expect(p.round).toBe(3);
    expect(Array.from(p.weights!)).toEqual([3, 3.5, -3]);
    expect(Array.from(p.serverState.velocity!)).toEqual([7, 8, 9]);
    expect(p.run).toMatchObject({ runId: 'run_a', status: 'running', round: 3 });
    expect(warnings).toEqual([]);
    expect((await b.records.rounds('run_a')).map((r) => r.round)).toEqual([1, 2, 3]);
  });

  test('a corrupt checkpoint is caught by its sha256, falls back to the one before, and the rounds after it are rewound', async () => {
    await runOf(3, 0);
    await b.corrupt('run_a', 3);
    const { log, warnings } = logSink();
    const p = (await findResumePoint(b.records, log))!;
    expect(p.round).toBe(2);
    expect(Array.from(p.weights!)).toEqual([2, 2.5, -2]);
    expect(warnings[0]).toMatchObject({ msg: expect.stringMatching(/falling back/), fields: { round: 3, reason: expect.stringMatching(/sha256/) } });
    expect((await b.records.run('run_a'))!.round).toBe(2);
    expect((await b.records.rounds('run_a')).map((r) => r.round)).toEqual([1, 2]);
    expect((await b.records.checkpoints('run_a')).map((c) => c.round)).toEqual([2, 1, 0]);
  });

  test('retention keeps the newest checkpoints only; abandoned attempts are recorded without one', async () => {
    const store = await runOf(4, 2);
    await store.recordRound('run_a', record(5, 'abandoned'), undefined);
    expect((await b.records.checkpoints('run_a')).map((c) => c.round)).toEqual([4, 3]);
    expect((await b.records.rounds('run_a')).map((r) => `${r.round}:${r.status}`)).toEqual(['1:completed', '2:completed', '3:completed', '4:completed', '5:abandoned']);
    expect((await b.records.run('run_a'))!.round).toBe(4);
  });

  test('clients and participation: completed rounds reported per client', async () => {
    const store = await runOf(0, 0);
    await b.records.writeClients([
      { kind: 'joined', clientId: 'c1', signPublicKey: 'k1', platform: 'node', backend: 'cpu', address: '127.0.0.1', at: 10 },
      { kind: 'joined', clientId: 'c2', signPublicKey: 'k2', platform: 'browser', backend: 'webgl', name: 'tab', address: '127.0.0.2', at: 11 },
      { kind: 'left', clientId: 'c1', at: 50 },
    ]);
    for (let r = 1; r <= 3; r++) {
      await store.recordRound('run_a', record(r), new Float32Array(3), [
        { clientId: 'c1', outcome: 'reported' },
        { clientId: 'c2', outcome: r === 2 ? 'dropped' : 'reported' },
      ]);
    }
    const clients = await b.records.clients('run_a');
    expect(clients.map((c) => [c.clientId, c.roundsCompleted, c.firstSeen, c.lastSeen, c.name])).toEqual([
      ['c1', 3, 10, 50, null],
      ['c2', 2, 11, 11, 'tab'],
    ]);
    expect((await b.records.participation('run_a')).filter((p) => p.outcome === 'dropped')).toEqual([{ round: 2, attempt: 1, clientId: 'c2', outcome: 'dropped' }]);
  });

  test('run status: finished runs are not resumed, the newest unfinished one is', async () => {
    await b.records.insertRun({ runId: 'old', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 });
    await b.records.insertRun({ runId: 'new', createdAt: 2, settings: DEFAULT_RUN, status: 'running', round: 0 });
    expect((await b.records.latestUnfinished())!.runId).toBe('new');
    await b.records.setRunStatus('new', 'finished', 99);
    expect((await b.records.run('new'))).toMatchObject({ status: 'finished', finishedAt: 99 });
    expect((await b.records.latestUnfinished())!.runId).toBe('old');
    expect((await b.records.runs()).map((r) => r.runId)).toEqual(['new', 'old']);
  });
});

describe('postgres records: opening', () => {
  test('two nodes opening the same fresh database at once both get one schema', async () => {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE records_concurrent');
    await admin.end();
    const url = postgres.url.replace(/\/fedlink$/, '/records_concurrent');
    const [a, c] = await Promise.all([PostgresRunRecords.open(url), PostgresRunRecords.open(url)]);
    await a.insertRun({ runId: 'r', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 });
    expect((await c.run('r'))!.settings).toEqual(DEFAULT_RUN);
    await a.close();
    await c.close();
  });

  test('fencing: once a newer leader claimed the run, an older leader\'s round, checkpoint and status writes are refused and leave nothing', async () => {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE records_fence');
    await admin.end();
    const url = postgres.url.replace(/\/fedlink$/, '/records_fence');
    const base = await PostgresRunRecords.open(url);
    const old = base.fenced(1);
    const store = new PersistentRunStore(old, { keepCheckpoints: 0, serverState: () => ({}) });
    await store.startRun({ runId: 'run_f', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 }, new Float32Array([0, 0]));
    await store.recordRound('run_f', record(1), new Float32Array([1, 1]));
    const newer = base.fenced(2);
    expect(await newer.claim('run_f')).toBe(true);
    // The old leader, not yet aware it lost the lease, finishes round 2: refused whole.
    await expect(store.recordRound('run_f', record(2), new Float32Array([2, 2]))).rejects.toBeInstanceOf(FencedError);
    await expect(old.setRunStatus('run_f', 'finished')).rejects.toThrow(/fencing token 1 is older/);
    expect(await old.claim('run_f')).toBe(false);
    expect((await base.rounds('run_f')).map((r) => r.round)).toEqual([1]);
    expect((await base.checkpoints('run_f')).map((c) => c.round)).toEqual([1, 0]);
    expect(await base.run('run_f')).toMatchObject({ status: 'running', round: 1 });
    // The newer leader writes as usual.
    await new PersistentRunStore(newer, { keepCheckpoints: 0, serverState: () => ({}) }).recordRound('run_f', record(2), new Float32Array([2, 2]));
    expect((await base.run('run_f'))!.round).toBe(2);
    await base.close();
  });

  test('an unreachable database is a PostgresError naming it (without the password)', async () => {
    const err = await PostgresRunRecords.open('postgres://fedlink:secret@127.0.0.1:1/none').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect((err as Error).message).toMatch(/cannot open postgres:\/\/fedlink@127\.0\.0\.1:1\/none/);
    expect((err as Error).message).not.toMatch(/secret/);
    await expect(PostgresRunRecords.open('mysql://x')).rejects.toThrow(/postgres:\/\/ URL/);
  });
});
