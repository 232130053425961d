import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subset } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';
import { FEDLINK_BIN } from '../helpers/processes.js';
import { writeIdx } from '../helpers/idx.js';

// simulate --edges from outside: the tree's final model (--save-model) equals the flat run's with
// real tfjs training. Each client trains ten batches of 10 over its 100 examples, in the order
// its training seed shuffles them: the tree gives each leaf the seed the flat run gives it, so
// what remains is the float rounding of the grouped mean.

test('simulate --edges 2 --clients 4: each leaf trains with the flat run\'s seed, and the tree ends on the flat run\'s model (max |diff| <= 1e-5)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-edge-sim-'));
  try {
    const mnist = await loadMnistPackage();
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    await writeIdx(dir, subset(mnist.train, range(400)), subset(mnist.test, range(100)));
    const simulate = (name: string, extra: string[]) => {
      const args = ['simulate', '--clients', '4', '--rounds', '2', '--model', 'mlp', '--data', `idx:${dir}`, '--batch-size', '10', '--lr', '0.1', '--backend', 'cpu', '--workers', '1'];
      const r = spawnSync(process.execPath, [FEDLINK_BIN, ...args, ...extra, '--save-model', join(dir, name), '--json', join(dir, `${name}.json`)], { encoding: 'utf8', timeout: 180_000 });
      expect(r.status).toBe(0);
      return r.stdout;
    };
    const treeOut = simulate('tree', ['--edges', '2']);
    simulate('flat', []);
    // The root's line counts leaves (4 reported of the 4 the edges selected), then one line with
    // each edge's group (edgeOf: clients 0,2 and 1,3; 100 examples each).
    expect(treeOut).toMatch(/round 1\/2 {2}clients 4\/4 /);
    expect(treeOut).toMatch(/ {2}edges {2}edge-0: 2 clients\/200 ex {3}edge-1: 2 clients\/200 ex {3}bytes into root \d+ KiB/);
    const weights = async (name: string) => new Float32Array((await readFile(join(dir, name, 'weights.bin'))).buffer.slice(0));
    const [tree, flat] = [await weights('tree'), await weights('flat')];
    expect(tree.length).toBe(flat.length);
    let diff = 0;
    for (let i = 0; i < tree.length; i++) diff = Math.max(diff, Math.abs(tree[i]! - flat[i]!));
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(JSON.parse(await readFile(join(dir, 'tree', 'model.json'), 'utf8'))).toMatchObject({ weightsManifest: [{ paths: ['weights.bin'] }] });
    const results = JSON.parse(await readFile(join(dir, 'tree.json'), 'utf8')) as {
      tree: { mode: string; edges: { name: string; clients: number[]; reports: { round: number; contributors: number; examples: number; selected: number }[] }[] };
      rounds: { status: string; reported: number; selected: number }[];
    };
    expect(results.tree.mode).toBe('in-process');
    expect(results.tree.edges.map((e) => [e.name, e.clients, e.reports])).toEqual([
      ['edge-0', [0, 2], [1, 2].map((round) => ({ round, contributors: 2, examples: 200, selected: 2 }))],
      ['edge-1', [1, 3], [1, 2].map((round) => ({ round, contributors: 2, examples: 200, selected: 2 }))],
    ]);
    // The root's records count leaves (delegated selection): it asked its edges for 4, and 4 reported.
    expect(results.rounds.map((r) => [r.status, r.reported, r.selected])).toEqual([['completed', 4, 4], ['completed', 4, 4]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);

test("simulate --edges 2 on text: each edge ships its parent's vocabulary, so the leaves encode with it and the round completes", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-edge-text-'));
  try {
    // Three writers (one file each) of a small made-up text: natural partition, one client per file.
    const words = 'the cat sat on a mat and then it ran far away from home to see the sea'.split(' ');
    for (let f = 0; f < 3; f++) {
      const text = Array.from({ length: 1500 }, (_, i) => words[(i * (7 + 2 * f) + f) % words.length]).join(' ');
      await writeFile(join(dir, `writer${f}.txt`), text);
    }
    const args = ['simulate', '--model', 'char-lstm', '--data', `text:${dir}`, '--partition', 'natural', '--clients', '3', '--seq-length', '10', '--text-stride', '20',
      '--rounds', '1', '--edges', '2', '--workers', '1', '--wait-timeout', '60s', '--json', join(dir, 'run.json')];
    const r = spawnSync(process.execPath, [FEDLINK_BIN, ...args], { encoding: 'utf8', timeout: 180_000 });
    expect(r.stderr).not.toMatch(/vocab_mismatch/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/round 1\/1 {2}clients 3\/3 /);
    const results = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as { rounds: { status: string; reported: number }[] };
    expect(results.rounds.map((x) => [x.status, x.reported])).toEqual([['completed', 3]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);
