import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentity, identityToJson } from '@fedlink/crypto';
import { FEDLINK_BIN, type Proc, freePort, spawnFedlink, spawnNode } from '../helpers/processes.js';

const DET_CLIENT = fileURLToPath(new URL('../helpers/det-client.mjs', import.meta.url));
const LOAD_DIR = fileURLToPath(new URL('../helpers/load-model-dir.mjs', import.meta.url));
const TOKEN = 'resume-test-token-0123456789';
const CLIENTS = 3;
const ROUNDS = 5;

const fedlink = (args: string[]) => spawnSync(process.execPath, [FEDLINK_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

// Each strategy keeps server state across rounds (FedAvgM its momentum, FedYogi its moments m and
// v, SCAFFOLD its server control variate c): the resumed run must restore it to match. Under
// SCAFFOLD the clients' corrections c - c_i move their deltas, so a c lost at the crash would
// change every later round; the clients' c_i live in the client processes, which outlive the crash.
const STATEFUL = ['fedavgm', 'fedyogi', 'scaffold'] as const;

function serve(stateDir: string, port: number, strategy: (typeof STATEFUL)[number]): Proc {
  return spawnFedlink([
    'serve', '--port', String(port), '--state-dir', stateDir, '--model', 'mlp', '--rounds', String(ROUNDS),
    '--strategy', strategy, '--fraction', '1', '--over-select', '0', '--min-fit', String(CLIENTS), '--min-available', String(CLIENTS),
    ...(strategy === 'scaffold' ? ['--lr', '0.0625'] : []),
    '--token', TOKEN, '--exit-on-finish', '--log-format', 'json', '--log-level', 'info', '--round-timeout', '2m', '--wait-timeout', '2m',
  ]);
}

function clients(port: number, identities: string[], holdRound: number): Proc[] {
  return identities.map((file, i) => spawnNode([DET_CLIENT, `http://127.0.0.1:${port}`, TOKEN, file, String(i + 1), String(holdRound)], { stdin: true }));
}

async function exportRun(stateDir: string, runId: string, out: string): Promise<Buffer> {
  const r = fedlink(['runs', 'export', runId, '--state-dir', stateDir, '--out', out]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readFile(join(out, 'weights.bin'));
}

describe('a coordinator killed mid-round resumes from its last checkpoint', () => {
  let dir: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-resume-'));
  });
  afterAll(async () => {
    for (const p of procs) p.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test.each(STATEFUL)('%s: SIGKILL in round 3, restart on the same state dir: rounds 1-2 are not repeated and the final model equals an uninterrupted run', async (strategy) => {
    const sub = join(dir, strategy);
    await mkdir(sub, { recursive: true });
    const identities = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const file = join(sub, `client-${i}.json`);
        await writeFile(file, JSON.stringify(identityToJson(generateIdentity())));
        return file;
      }),
    );

    // Interrupted run: every client holds its first round-3 training until the coordinator is dead.
    const stateA = join(sub, 'a');
    const portA = await freePort();
    const first = serve(stateA, portA, strategy);
    procs.push(first);
    const runId = (await first.waitFor(/run {10}(run_[0-9a-f]+)/))[1]!;
    const held = clients(portA, identities, 3);
    procs.push(...held);
    await Promise.all(held.map((c) => c.waitFor(/holding 3/, 90_000)));
    expect(first.stdout).toMatch(/round 2\/5 {2}clients 3\/3/);
    expect(first.stdout).not.toMatch(/round 3\/5/);
    first.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    for (const c of held) c.child.stdin!.write('release\n');

    const mid = JSON.parse(fedlink(['runs', 'show', runId, '--state-dir', stateA, '--json']).stdout);
    expect(mid.run).toMatchObject({ status: 'running', round: 2 });

    const second = serve(stateA, portA, strategy);
    procs.push(second);
    expect(await second.exit(150_000)).toBe(0);
    expect(second.stdout).toContain(`run          ${runId}`);
    expect(second.stdout).toMatch(/resumed {6}after round 2 of 5/);
    expect(second.stdout).not.toMatch(/round [12]\/5/);
    expect(second.stdout).toMatch(/round 3\/5 {2}clients 3\/3/);
    expect(second.stdout).toMatch(/run finished after 5 round\(s\)/);
    await Promise.all(held.map((c) => c.exited));
    for (const c of held) expect(c.stdout).toMatch(/run finished/);

    const after = JSON.parse(fedlink(['runs', 'show', runId, '--state-dir', stateA, '--json']).stdout);
    expect(after.run).toMatchObject({ status: 'finished', round: 5 });
    const completed = (after.rounds as { round: number; status: string }[]).filter((r) => r.status === 'completed').map((r) => r.round);
    expect(completed).toEqual([1, 2, 3, 4, 5]);
    const resumed = await exportRun(stateA, runId, join(sub, 'export-a'));

    // Reference: the same seed, settings and client identities, never interrupted.
    const stateB = join(sub, 'b');
    const portB = await freePort();
    const ref = serve(stateB, portB, strategy);
    procs.push(ref);
    const refId = (await ref.waitFor(/run {10}(run_[0-9a-f]+)/))[1]!;
    const plain = clients(portB, identities, 0);
    procs.push(...plain);
    expect(await ref.exit(150_000)).toBe(0);
    const uninterrupted = await exportRun(stateB, refId, join(sub, 'export-b'));

    // Exact: deltas are on a 2^-16 grid, so the float64 sums are exact in any arrival order, and
    // the server optimizer's state (momentum; Yogi's m and v) is restored bit for bit from the checkpoint.
    expect(resumed.length).toBe(199_210 * 4);
    expect(resumed.equals(uninterrupted)).toBe(true);

    const csv = await readFile(join(sub, 'export-a', 'metrics.csv'), 'utf8');
    expect(csv.split('\n')[0]).toMatch(/^round,attempt,status,/);
    const loaded = spawnSync(process.execPath, [LOAD_DIR, join(sub, 'export-a')], { encoding: 'utf8', timeout: 60_000 });
    expect(loaded.status).toBe(0);
    expect(JSON.parse(loaded.stdout).params).toBe(199_210);
  }, 300_000);
});
