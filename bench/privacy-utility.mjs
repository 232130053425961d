#!/usr/bin/env node
/**
 * Privacy-utility table: `node bench/privacy-utility.mjs [--datasets mnist,idx:/usr/share/datasets/fashion-mnist]
 * [--rounds 20,10] [--clip 0.3] [--epsilons 1,3,8,none] [--delta 1e-5] [--seeds 1-10] [--out-dir /tmp/fedlink-pu]`.
 *
 * For each dataset and epsilon it asks `fedlink privacy --target-epsilon E` for the noise
 * multiplier that keeps the run's schedule (sampling rate 10/100 = 0.1, its rounds, delta) within
 * E, then, for every seed, runs `fedlink simulate --json` twice with --target-epsilon E (so the
 * coordinator's own check must pass too): central DP (plain updates, the coordinator clips and
 * noises), and distributed DP under secure aggregation (clients clip, quantise and add discrete
 * Gaussian shares before masking; --min-fit 10 so the shares are sized for the 10 clients that
 * report). "none" runs the same two without DP (plain FedAvg, plain SecAgg+). 100 clients,
 * fraction 0.1, no over-selection, MLP (2NN), IID, default local training.
 *
 * Both runs of a seed share partition, selection, initial model and local-training randomness;
 * only the DP noise (drawn from the CSPRNG, never seeded) differs. So the per-seed difference
 * (distributed - central) is a paired sample, and the table gives its mean and standard error
 * over the seeds next to each mode's mean and standard deviation.
 *
 * Seeds run outermost and a results file that already exists in --out-dir is read, not rerun, so
 * an interrupted sweep continues where it stopped. Per-run figures go to stderr as they finish;
 * stdout gets the markdown table.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `usage: node bench/privacy-utility.mjs [--datasets mnist,idx:DIR] [--rounds 20,10] [--clip 0.3]
       [--epsilons 1,3,8,none] [--delta 1e-5] [--seeds 1-10 | 1,2,3] [--out-dir DIR]`;
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const KNOWN = new Set(['datasets', 'rounds', 'clip', 'epsilons', 'delta', 'seeds', 'out-dir']);
const args = {};
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!argv[i].startsWith('--') || !KNOWN.has(key) || argv[i + 1] === undefined) {
    console.error(`bad argument ${argv[i]}\n${HELP}`);
    process.exit(2);
  }
  args[key] = argv[i + 1];
}

function parseSeeds(text) {
  const range = /^(\d+)-(\d+)$/.exec(text);
  if (range) return Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => String(Number(range[1]) + i));
  return text.split(',');
}

const datasets = (args.datasets ?? 'mnist,idx:/usr/share/datasets/fashion-mnist').split(',');
const roundsList = (args.rounds ?? '20,10').split(',').map(Number);
const clip = Number(args.clip ?? 0.3);
const epsilons = (args.epsilons ?? '1,3,8,none').split(',').map((e) => (e === 'none' ? 'none' : Number(e)));
const delta = Number(args.delta ?? 1e-5);
const seeds = parseSeeds(args.seeds ?? '1-10');
const outDir = args['out-dir'] ?? '/tmp/fedlink-privacy-utility';
mkdirSync(outDir, { recursive: true });

const cli = join(import.meta.dirname, '..', 'apps', 'cli', 'bin', 'fedlink.js');
const fedlink = (command) => execFileSync(process.execPath, [cli, ...command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const MODES = ['central', 'distributed'];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cells = []; // { data, rounds, eps, z, runs: { central: [{seed, acc, eps}], distributed: [...] } }
datasets.forEach((data, di) => {
  const rounds = roundsList[Math.min(di, roundsList.length - 1)];
  for (const eps of epsilons) {
    let z;
    if (eps !== 'none') {
      const line = fedlink(['privacy', '--sampling-rate', '0.1', '--rounds', String(rounds), '--delta', String(delta), '--target-epsilon', String(eps)]);
      z = Number(/noise_multiplier=([\d.e+-]+)/.exec(line)[1]);
    }
    cells.push({ data, rounds, eps, z, runs: { central: [], distributed: [] } });
  }
});

for (const seed of seeds) {
  for (const cell of cells) {
    const { data, rounds, eps, z } = cell;
    for (const mode of MODES) {
      const file = join(outDir, `${data.replace(/[^a-z0-9]+/gi, '_')}-${eps}-${mode}-seed${seed}.json`);
      if (!existsSync(file)) {
        const base = ['simulate', '--clients', '100', '--fraction', '0.1', '--over-select', '0', '--model', 'mlp', '--rounds', String(rounds), '--data', data, '--workers', '2', '--seed', seed];
        const dp = eps === 'none' ? [] : ['--dp', mode, '--dp-clip', String(clip), '--noise-multiplier', String(z), '--delta', String(delta), '--target-epsilon', String(eps)];
        const secure = mode === 'distributed' ? ['--secure-aggregation', '--min-fit', '10'] : [];
        const t0 = Date.now();
        try {
          fedlink([...base, ...secure, ...dp, '--json', file]);
        } catch (e) {
          process.stderr.write(`run failed (${data}, ${eps}, ${mode}, seed ${seed}): ${e.message}\n`);
          continue;
        }
        process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] `);
      }
      const json = JSON.parse(readFileSync(file, 'utf8'));
      const accs = json.rounds.filter((r) => r.status === 'completed' && r.testAccuracy !== undefined).map((r) => r.testAccuracy);
      cell.runs[mode].push({ seed, acc: json.final.testAccuracy, last5: mean(accs.slice(-5)), eps: json.final.epsilon });
      process.stderr.write(`${data} eps=${eps} ${mode} seed ${seed}: acc ${json.final.testAccuracy} epsilon ${json.final.epsilon ?? '-'}\n`);
    }
  }
}

const std = (xs) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pts = (x) => (Number.isFinite(x) ? (x * 100).toFixed(2) : '–');
const maxEps = (runs) => (runs.some((r) => r.eps !== undefined) ? Math.max(...runs.map((r) => r.eps ?? 0)).toFixed(3) : '–');

console.log(`| dataset | rounds | target ε | z | seeds | central DP: accuracy % (mean ± std) | ε spent (max) | distributed DP (SecAgg+): accuracy % (mean ± std) | ε spent (max) | distributed − central, points (mean ± s.e.) | same, mean of the last 5 rounds |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|`);
for (const cell of cells) {
  const { central, distributed } = cell.runs;
  const bySeed = new Map(central.map((r) => [r.seed, r]));
  const paired = distributed.filter((r) => bySeed.has(r.seed));
  const diffs = paired.map((r) => r.acc - bySeed.get(r.seed).acc);
  const diffs5 = paired.map((r) => r.last5 - bySeed.get(r.seed).last5);
  const ca = central.map((r) => r.acc);
  const da = distributed.map((r) => r.acc);
  const se = (xs) => std(xs) / Math.sqrt(xs.length);
  const name = cell.data === 'mnist' ? 'MNIST (mnist package)' : 'Fashion-MNIST';
  console.log(
    `| ${name} | ${cell.rounds} | ${cell.eps} | ${cell.z === undefined ? '–' : cell.z.toFixed(4)} | ${diffs.length} | ${pts(mean(ca))} ± ${pts(std(ca))} | ${maxEps(central)} | ${pts(mean(da))} ± ${pts(std(da))} | ${maxEps(distributed)} | ${pts(mean(diffs))} ± ${pts(se(diffs))} | ${pts(mean(diffs5))} ± ${pts(se(diffs5))} |`,
  );
}
