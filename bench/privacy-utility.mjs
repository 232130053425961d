#!/usr/bin/env node
/**
 * Privacy-utility table: `node bench/privacy-utility.mjs [--datasets mnist,idx:/usr/share/datasets/fashion-mnist]
 * [--rounds 20,10] [--clip 0.3] [--epsilons 1,3,8] [--delta 1e-5] [--seed 1] [--skip-none 1] [--out-dir /tmp/fedlink-pu]`.
 *
 * For each dataset and epsilon it asks `fedlink privacy --target-epsilon E` for the noise
 * multiplier that keeps the run's schedule (sampling rate 10/100 = 0.1, its rounds, delta) within
 * E, then runs `fedlink simulate --json` twice with --target-epsilon E (so the coordinator's own
 * check must pass too): central DP (plain updates, the coordinator clips and noises), and
 * distributed DP under secure aggregation (clients clip, quantise and add discrete Gaussian shares
 * before masking; --min-fit 10 so the shares are sized for the 10 clients that report). "none" runs
 * the same two without DP (plain FedAvg, plain SecAgg+). 100 clients, fraction 0.1, no
 * over-selection, MLP (2NN), IID, seed 1 (--seed), default local training. Prints one markdown table; the
 * epsilon column is what the accountant reported after the last round (results JSON).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const datasets = (args.datasets ?? 'mnist,idx:/usr/share/datasets/fashion-mnist').split(',');
const roundsList = (args.rounds ?? '20,10').split(',').map(Number);
const clip = Number(args.clip ?? 0.3);
const epsilons = (args.epsilons ?? '1,3,8').split(',').map(Number);
const delta = Number(args.delta ?? 1e-5);
const outDir = args['out-dir'] ?? '/tmp/fedlink-privacy-utility';
const seed = String(args.seed ?? 1);
mkdirSync(outDir, { recursive: true });

const cli = join(import.meta.dirname, '..', 'apps', 'cli', 'bin', 'fedlink.js');
const fedlink = (argv) => execFileSync(process.execPath, [cli, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const rows = [];
datasets.forEach((data, di) => {
  const rounds = roundsList[Math.min(di, roundsList.length - 1)];
  const base = ['simulate', '--clients', '100', '--fraction', '0.1', '--over-select', '0', '--model', 'mlp', '--rounds', String(rounds), '--data', data, '--workers', '2', '--seed', seed];
  for (const eps of [...epsilons, ...(args['skip-none'] !== undefined ? [] : ['none'])]) {
    let z;
    if (eps !== 'none') {
      const line = fedlink(['privacy', '--sampling-rate', '0.1', '--rounds', String(rounds), '--delta', String(delta), '--target-epsilon', String(eps)]);
      z = Number(/noise_multiplier=([\d.e+-]+)/.exec(line)[1]);
    }
    const result = {};
    for (const mode of ['central', 'distributed']) {
      const file = join(outDir, `${data.replace(/[^a-z0-9]+/gi, '_')}-${eps}-${mode}.json`);
      const dp = eps === 'none' ? [] : ['--dp', mode, '--dp-clip', String(clip), '--noise-multiplier', String(z), '--delta', String(delta), '--target-epsilon', String(eps)];
      const secure = mode === 'distributed' ? ['--secure-aggregation', '--min-fit', '10'] : [];
      const t0 = Date.now();
      try {
        fedlink([...base, ...secure, ...dp, '--json', file]);
      } catch (e) {
        process.stderr.write(`run failed (${data}, ${eps}, ${mode}): ${e.message}\n`);
      }
      if (!existsSync(file)) {
        result[mode] = { seconds: (Date.now() - t0) / 1000 };
        continue;
      }
      const json = JSON.parse(readFileSync(file, 'utf8'));
      result[mode] = { acc: json.final.testAccuracy, eps: json.final.epsilon, seconds: (Date.now() - t0) / 1000 };
      process.stderr.write(`${data} eps=${eps} ${mode}: acc ${json.final.testAccuracy} epsilon ${json.final.epsilon ?? '-'} (${result[mode].seconds.toFixed(0)} s)\n`);
    }
    rows.push({ data, rounds, eps, z, ...result });
  }
});

const f = (x, d = 4) => (x === undefined ? '–' : x.toFixed(d));
console.log(`| dataset | rounds | target ε | noise multiplier z | central DP: accuracy | ε spent | distributed DP (SecAgg+): accuracy | ε spent | difference (points) |`);
console.log(`|---|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  const diff = r.central.acc !== undefined && r.distributed.acc !== undefined ? ((r.distributed.acc - r.central.acc) * 100).toFixed(2) : '–';
  console.log(`| ${r.data === 'mnist' ? 'MNIST (mnist package)' : 'Fashion-MNIST'} | ${r.rounds} | ${r.eps} | ${r.z === undefined ? '–' : r.z.toFixed(4)} | ${f(r.central.acc)} | ${f(r.central.eps, 3)} | ${f(r.distributed.acc)} | ${f(r.distributed.eps, 3)} | ${diff} |`);
}
