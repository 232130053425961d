import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Same seed, same result: the simulations recorded as golden files on main before the
 * round-pipeline refactor (tests/golden/README.md) are rerun through the CLI, and every
 * per-round figure must match. Counts and bytes match exactly; metrics within 1e-6. One source
 * of run-to-run noise is on purpose: secure aggregation's stochastic rounding draws from the
 * CSPRNG (two runs of the old main differed by 1.5e-8 in test loss).
 *
 * The other is not on purpose, and predates the refactor: in the secure run one client's local
 * training (sim-5, round 2) takes one of two paths, diverging at one SGD step, depending on the
 * timing of its process (the old main took the other path too when run beside tests/cli in jest,
 * and so does the stock wasm backend under CI load). Every count, byte and contributor stays identical; the other
 * path moves the test loss by 3e-6 and 2.5e-5. So that run is held to its exact counts and to
 * 1e-4 on its metrics; tests/golden/README.md has the measurements.
 */
const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
const GOLDEN = fileURLToPath(new URL('.', import.meta.url));

interface Round {
  round: number;
  attempt: number;
  status: string;
  [k: string]: unknown;
}

const EXACT = ['round', 'attempt', 'status', 'selected', 'target', 'reported', 'dropped', 'rejected', 'totalExamples', 'bytesIn', 'bytesOut'] as const;
const METRICS = ['trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy'] as const;
const TOLERANCE = 1e-6;

const RUNS: [string, string, number][] = [
  ['mlp-iid-seed11', '--clients 10 --rounds 5 --model mlp --partition iid --seed 11', TOLERANCE],
  ['mlp-shards-fedadam-seed12', '--clients 10 --rounds 5 --model mlp --partition shards --strategy fedadam --seed 12', TOLERANCE],
  ['mlp-secagg-dropout-seed13', '--clients 10 --rounds 3 --model mlp --secure-aggregation --dropout 0.2 --seed 13', 1e-4],
  ['cnn-dirichlet-fedavgm-seed14', '--clients 5 --rounds 2 --model cnn --partition dirichlet:0.5 --strategy fedavgm --seed 14', TOLERANCE],
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-golden-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test.each(RUNS)('%s reproduces the golden per-round figures', async (name, args, tolerance) => {
  const out = join(dir, `${name}.json`);
  // The golden files were recorded on the fedlink (wasm) backend; another backend (auto now picks
  // native where the addon built) sums in another order and moves the metrics by up to 1e-2.
  const r = spawnSync(process.execPath, [BIN, 'simulate', ...args.split(' '), '--backend', 'fedlink', '--json', out], { encoding: 'utf8', timeout: 400_000 });
  if (r.status !== 0) throw new Error(`simulate exited ${r.status}\n${r.stdout}\n${r.stderr.slice(-4000)}`);
  const golden = JSON.parse(await readFile(join(GOLDEN, `${name}.json`), 'utf8')) as { config: { backend: string }; rounds: Round[]; final: unknown; clientExamples: number[] };
  const got = JSON.parse(await readFile(out, 'utf8')) as typeof golden;
  expect(got.config.backend).toBe(golden.config.backend);
  expect(got.clientExamples).toEqual(golden.clientExamples);
  expect(got.rounds.map((x) => EXACT.map((k) => x[k]))).toEqual(golden.rounds.map((x) => EXACT.map((k) => x[k])));
  let worst = 0;
  golden.rounds.forEach((g, i) => {
    for (const k of METRICS) {
      const a = g[k];
      const b = got.rounds[i]![k];
      expect(typeof b).toBe(typeof a);
      if (typeof a === 'number' && typeof b === 'number') worst = Math.max(worst, Math.abs(a - b));
    }
  });
  expect(worst).toBeLessThanOrEqual(tolerance);
}, 420_000);
