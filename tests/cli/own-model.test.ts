import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnFedlink } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/models/conv-bn-dropout/model.json', import.meta.url));

test('serve --model <model.json> + join: a conv/batch-norm/dropout model from tfjs trains past chance, clients check its hash', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-own-model-'));
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', FIXTURE, '--rounds', '3', '--min-fit', '2', '--lr', '0.1', '--log-level', 'warn', '--exit-on-finish']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    const hash = /model hash {3}([0-9a-f]{64})/.exec(serve.stdout)![1]!;
    const args = joinLine!.trim().split(/\s+/);
    expect(args).toContain('--model-hash');
    expect(args[args.indexOf('--model-hash') + 1]).toBe(hash);
    const joins = ['1/2', '2/2'].map((shard) => spawnFedlink(['join', ...args.map((a) => (a === '1/10' ? shard : a))]));
    const codes = await Promise.all(joins.map((j) => j.exit(300_000)));
    for (const j of joins) {
      expect(j.stdout).toMatch(new RegExp(`model ${FIXTURE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(3,002 params, hash ${hash}\\)`));
      expect(j.stdout).toMatch(/round 3: sent \d+ KiB sealed update/);
    }
    expect(codes).toEqual([0, 0]);
    expect(await serve.exit(120_000)).toBe(0);
    const accuracies = [...serve.stdout.matchAll(/test_acc (\d\.\d+)/g)].map((m) => Number(m[1]));
    expect(accuracies).toHaveLength(3);
    // 10 classes: chance is 0.1 (the most frequent digit of the test split is ~0.11).
    expect(accuracies[2]!).toBeGreaterThan(0.6);
  } finally {
    serve.kill();
    await rm(dir, { recursive: true, force: true });
  }
}, 600_000);

test('join refuses a run whose model does not have the hash it was given: model_mismatch, exit 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-own-model-'));
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', FIXTURE, '--rounds', '1', '--log-level', 'warn']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    const args = joinLine!.trim().split(/\s+/);
    args[args.indexOf('--model-hash') + 1] = '0'.repeat(64);
    const j = spawnFedlink(['join', ...args]);
    expect(await j.exit(120_000)).toBe(1);
    expect(j.stderr).toMatch(/model_mismatch: the run's model .* hashes to [0-9a-f]{16}…, not the expected 0{16}…/);
  } finally {
    serve.kill();
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);

test('serve --model with a model.json whose weight file is missing: a clear error at start, exit 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-own-model-'));
  try {
    const { copyFile } = await import('node:fs/promises');
    await copyFile(FIXTURE, join(dir, 'model.json'));
    const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', join(dir, 'model.json'), '--log-level', 'warn']);
    expect(await serve.exit(120_000)).toBe(1);
    expect(serve.stderr).toMatch(/model\.json: weight file weights\.bin is missing or unreadable \(ENOENT\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);
