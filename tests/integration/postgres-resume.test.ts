import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateIdentity, identityToJson } from '@fedlink/crypto';
import { PostgresRunRecords, openDatabase } from '@fedlink/coordinator';
import { type Proc, freePort, spawnFedlink, spawnNode } from '../helpers/processes.js';
import { type PostgresService, startPostgres } from '../helpers/services.js';

const DET_CLIENT = fileURLToPath(new URL('../helpers/det-client.mjs', import.meta.url));
const TOKEN = 'pg-resume-token-0123456789';
const CLIENTS = 3;
const ROUNDS = 4;

function serve(stateDir: string, port: number, database: string): Proc {
  return spawnFedlink([
    'serve', '--port', String(port), '--state-dir', stateDir, '--database', database, '--model', 'mlp', '--rounds', String(ROUNDS),
    '--strategy', 'fedavgm', '--fraction', '1', '--over-select', '0', '--min-fit', String(CLIENTS), '--min-available', String(CLIENTS),
    '--token', TOKEN, '--exit-on-finish', '--log-format', 'json', '--log-level', 'info', '--round-timeout', '2m', '--wait-timeout', '2m',
  ]);
}

const clients = (port: number, identities: string[], holdRound: number) =>
  identities.map((file, i) => spawnNode([DET_CLIENT, `http://127.0.0.1:${port}`, TOKEN, file, String(i + 1), String(holdRound)], { stdin: true }));

describe('serve --database: runs and checkpoints in PostgreSQL', () => {
  let dir: string;
  let postgres: PostgresService;
  const procs: Proc[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-pgresume-'));
    postgres = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) p.kill();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function database(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return postgres.url.replace(/\/fedlink$/, `/${name}`);
  }

  test('SIGKILL in round 3, restart: resumes from PostgreSQL after round 2, nothing in the state dir, final model equals an uninterrupted run', async () => {
    const identities = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const file = join(dir, `client-${i}.json`);
        await writeFile(file, JSON.stringify(identityToJson(generateIdentity())));
        return file;
      }),
    );
    const dbA = await database('resume_a');
    const stateA = join(dir, 'a');
    const port = await freePort();
    const first = serve(stateA, port, dbA);
    procs.push(first);
    const runId = (await first.waitFor(/run {10}(run_[0-9a-f]+)/))[1]!;
    // (the banner arrives in chunks: wait for its line rather than test what has arrived)
    await first.waitFor(/records {6}postgres:\/\/postgres@127\.0\.0\.1:\d+\/resume_a/);
    const held = clients(port, identities, 3);
    procs.push(...held);
    await Promise.all(held.map((c) => c.waitFor(/holding 3/, 90_000)));
    first.kill('SIGKILL');
    await first.exited;
    for (const c of held) c.child.stdin!.write('release\n');

    const mid = await PostgresRunRecords.open(dbA);
    expect(await mid.run(runId)).toMatchObject({ status: 'running', round: 2 });
    expect((await mid.checkpoints(runId)).map((c) => c.round)).toEqual([2, 1, 0]);
    await mid.close();
    // The state dir keeps identity and tokens only: no run rows there.
    const local = openDatabase(stateA);
    expect(local.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual({ n: 0 });
    local.close();

    const second = serve(stateA, port, dbA);
    procs.push(second);
    expect(await second.exit(150_000)).toBe(0);
    expect(second.stdout).toContain(`run          ${runId}`);
    expect(second.stdout).toMatch(/resumed {6}after round 2 of 4/);
    expect(second.stdout).not.toMatch(/round [12]\/4/);
    expect(second.stdout).toMatch(/run finished after 4 round\(s\)/);
    await Promise.all(held.map((c) => c.exited));

    const a = await PostgresRunRecords.open(dbA);
    expect(await a.run(runId)).toMatchObject({ status: 'finished', round: 4 });
    expect((await a.rounds(runId)).filter((r) => r.status === 'completed').map((r) => r.round)).toEqual([1, 2, 3, 4]);
    const resumed = (await a.loadLatestCheckpoint(runId))!;
    await a.close();

    // Reference: same seed, settings and client identities, never interrupted.
    const dbB = await database('resume_b');
    const portB = await freePort();
    const ref = serve(join(dir, 'b'), portB, dbB);
    procs.push(ref);
    const refId = (await ref.waitFor(/run {10}(run_[0-9a-f]+)/))[1]!;
    procs.push(...clients(portB, identities, 0));
    expect(await ref.exit(150_000)).toBe(0);
    const b = await PostgresRunRecords.open(dbB);
    const uninterrupted = (await b.loadLatestCheckpoint(refId))!;
    await b.close();

    expect(resumed.stored.round).toBe(4);
    expect(uninterrupted.stored.round).toBe(4);
    // Deltas on a 2^-16 grid: float64 sums are exact in any order, and FedAvgM's momentum comes back bit for bit.
    expect(Buffer.from(resumed.checkpoint.weights.buffer).equals(Buffer.from(uninterrupted.checkpoint.weights.buffer))).toBe(true);
    expect(Buffer.from(resumed.checkpoint.serverState['optimizer/velocity']?.buffer ?? new ArrayBuffer(0)).length).toBeGreaterThan(0);
  }, 400_000);
});
