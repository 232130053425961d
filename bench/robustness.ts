/**
 * Byzantine robustness table: `npm run bench:robustness -- [--cache file.jsonl] [--rounds 10]
 * [--clients 20] [--attackers 0.2] [--seed 16] [--only mean,median]`.
 *
 * Every aggregator x {no attack, sign-flip, scale:10, gaussian:0.1, label-flip, alie}: one
 * `fedlink simulate` per cell (20 clients, 10 rounds, MLP on the bundled MNIST split, IID, 20%
 * attackers drawn from the seed), its final test accuracy printed as a markdown table. Each
 * finished cell is appended to the cache (JSON lines), so an interrupted run resumes where it
 * stopped. Local training is 1 epoch, batch 50, lr 0.1, so a run takes well under a minute on
 * two cores. Prints figures only; passes or fails nothing.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFlags, positiveFlag } from './lib/cli.js';

// Run from bench/dist/ (compiled) like the other benches.
const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const USAGE = 'usage: npm run bench:robustness -- [--cache file.jsonl] [--rounds 10] [--clients 20] [--attackers 0.2] [--seed 16] [--only mean,median]';
const argv = process.argv.slice(2);
checkFlags(argv, USAGE, ['--cache', '--rounds', '--clients', '--attackers', '--seed', '--only']);
const clients = positiveFlag(argv, 'clients', 20);
const rounds = positiveFlag(argv, 'rounds', 10);
const share = positiveFlag(argv, 'attackers', 0.2);
const seed = Number(arg('seed', '16'));
if (!Number.isInteger(seed) || seed < 0) {
  console.error(`--seed needs a whole number >= 0, got ${JSON.stringify(arg('seed', ''))}`);
  process.exit(2);
}
const cache = arg('cache', join(tmpdir(), `fedlink-robustness-${clients}c-${rounds}r-${share}-${seed}.jsonl`));
const f = Math.round(share * clients);

/** Rows: label and the simulate flags that choose the aggregator. */
const AGGREGATORS: [string, string[]][] = [
  ['mean', ['--aggregator', 'mean']],
  ['median', ['--aggregator', 'median']],
  ['trimmed-mean:0.2', ['--aggregator', 'trimmed-mean:0.2']],
  [`krum:${f}`, ['--aggregator', `krum:${f}`]],
  [`multi-krum:${f},${clients - f}`, ['--aggregator', `multi-krum:${f},${clients - f}`]],
  [`bulyan:${f}`, ['--aggregator', `bulyan:${f}`]],
  ['centered-clip:1', ['--aggregator', 'centered-clip:1']],
  ['clip 1 + mean', ['--aggregator', 'mean', '--clip', '1']],
];
const ATTACKS = ['none', 'sign-flip', 'scale:10', 'gaussian:0.1', 'label-flip', 'alie'];
const only = arg('only', '').split(',').filter(Boolean);

interface Cell {
  aggregator: string;
  attack: string;
  accuracy: number | null;
  attackers: number[];
  seconds: number;
}

const done = new Map<string, Cell>();
if (existsSync(cache)) {
  for (const line of readFileSync(cache, 'utf8').split('\n').filter(Boolean)) {
    const c = JSON.parse(line) as Cell;
    done.set(`${c.aggregator}|${c.attack}`, c);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'fedlink-robustness-'));
try {
  for (const [label, flags] of AGGREGATORS) {
    if (only.length > 0 && !only.includes(label.split(':')[0]!)) continue;
    for (const attack of ATTACKS) {
      if (done.has(`${label}|${attack}`)) continue;
      const out = join(dir, 'run.json');
      const argv = [
        BIN, 'simulate', '--clients', String(clients), '--rounds', String(rounds), '--model', 'mlp', '--partition', 'iid',
        '--epochs', '1', '--batch-size', '50', '--lr', '0.1', '--seed', String(seed), '--min-fit', String(clients), ...flags,
        ...(attack === 'none' ? [] : ['--attack', attack, '--attackers', String(share)]), '--json', out,
      ];
      const started = Date.now();
      const r = spawnSync(process.execPath, argv, { encoding: 'utf8' });
      const seconds = (Date.now() - started) / 1000;
      let cell: Cell;
      if (existsSync(out)) {
        const result = JSON.parse(readFileSync(out, 'utf8')) as { final: { testAccuracy?: number }; attack?: { attackers: number[] } };
        cell = { aggregator: label, attack, accuracy: result.final.testAccuracy ?? null, attackers: result.attack?.attackers ?? [], seconds };
        rmSync(out);
      } else {
        process.stderr.write(`${label} / ${attack} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}\n`);
        cell = { aggregator: label, attack, accuracy: null, attackers: [], seconds };
      }
      process.stderr.write(`${label.padEnd(22)} ${attack.padEnd(13)} accuracy ${cell.accuracy?.toFixed(4) ?? '-'}  ${seconds.toFixed(0)} s\n`);
      if (cell.accuracy !== null) appendFileSync(cache, JSON.stringify(cell) + '\n'); // a failed cell is retried next time
      done.set(`${label}|${attack}`, cell);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const attackers = [...done.values()].find((c) => c.attackers.length > 0)?.attackers ?? [];
console.log(`${clients} clients, ${rounds} rounds, MLP (2NN) on the bundled MNIST split, IID, seed ${seed}; attackers ${attackers.length} (${Math.round(share * 100)}%): clients ${attackers.join(', ')}`);
console.log('final test accuracy; in brackets, points from the same aggregator without an attack\n');
console.log(`| aggregator | ${ATTACKS.join(' | ')} |`);
console.log(`|---|${ATTACKS.map(() => '---:').join('|')}|`);
for (const [label] of AGGREGATORS) {
  const base = done.get(`${label}|none`)?.accuracy;
  const cells = ATTACKS.map((a) => {
    const acc = done.get(`${label}|${a}`)?.accuracy;
    if (acc === undefined || acc === null) return '-';
    const pct = (acc * 100).toFixed(1);
    return a === 'none' || base === undefined || base === null ? pct : `${pct} (${((acc - base) * 100 >= 0 ? '+' : '') + ((acc - base) * 100).toFixed(1)})`;
  });
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}
