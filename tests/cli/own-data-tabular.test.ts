import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnFedlink, spawnNode } from '../helpers/processes.js';

const LOAD_DIR = fileURLToPath(new URL('../helpers/load-model-dir.mjs', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-csv-cli-'));
  await writeFile(join(dir, 'shops.csv'), ['shop,size,price', ...Array.from({ length: 30 }, (_, i) => `s${i % 3},${i},${(i * 1.5).toFixed(1)}`)].join('\n') + '\n');
  await writeFile(join(dir, 'ragged.csv'), 'a,b,label\n1,2,3\n4,5\n');
  await writeFile(join(dir, 'words.csv'), 'a,b,label\n1,2,3.5\n4,five,6.5\n7,8,9.5\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** simulate with these extra options; its exit code and stderr (it must fail at start, before any round). */
async function simulateFails(extra: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const p = spawnFedlink(['simulate', '--clients', '2', '--rounds', '1', '--workers', '1', '--model', 'tabular-mlp', ...extra]);
  const code = await p.exit(120_000);
  return { code, stderr: p.stderr, stdout: p.stdout };
}

test('bad csv input is a typed error at start, naming what is wrong', async () => {
  const shops = `csv:${join(dir, 'shops.csv')}`;
  const noLabel = await simulateFails(['--data', shops, '--label', 'cost']);
  expect(noLabel.code).toBe(1);
  expect(noLabel.stderr).toContain(`fedlink simulate: ${shops}: no label column 'cost'; the columns are shop, size, price`);
  const ragged = await simulateFails(['--data', `csv:${join(dir, 'ragged.csv')}`, '--label', 'label']);
  expect(ragged.code).toBe(1);
  expect(ragged.stderr).toContain('line 3: 2 fields, the header has 3 (a ragged row)');
  const words = await simulateFails(['--data', `csv:${join(dir, 'words.csv')}`, '--label', 'label', '--features', 'a,b:num']);
  expect(words.code).toBe(1);
  expect(words.stderr).toMatch(/column 'b' is numeric but holds 'five'/);
  // by:shop gives 3 clients; 5 asked for leaves clients 4 and 5 with empty shards.
  const empty = await simulateFails(['--data', shops, '--label', 'price', '--partition', 'by:shop', '--clients', '5']);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toContain('--partition by:shop: ');
  expect(empty.stderr).toContain('has 3 distinct shop value(s), so 3 client(s); 5 asked for (client(s) 4..5 would have an empty shard)');
  const notCsv = await simulateFails(['--partition', 'by:user']);
  expect(notCsv.code).toBe(2);
  expect(notCsv.stderr).toContain('--partition: by:<column> needs csv data');
  const noStats = await simulateFails(['--data', 'mnist']);
  expect(noStats.code).toBe(1);
  expect(noStats.stderr).toContain('tabular-mlp is a tabular model: it needs csv data');
}, 300_000);

test('simulate --partition by:<column>: one client per distinct value, regression metrics in the round lines', async () => {
  const p = spawnFedlink(['simulate', '--data', `csv:${join(dir, 'shops.csv')}`, '--label', 'price', '--features', 'size', '--partition', 'by:shop', '--clients', '3', '--rounds', '2', '--workers', '1', '--model', 'tabular-mlp', '--lr', '0.05', '--json', join(dir, 'out.json')]);
  expect(await p.exit(180_000)).toBe(0);
  expect(p.stdout).toMatch(/baseline: the train mean as the prediction: test RMSE \d+\.\d{4}, MAE \d+\.\d{4}/);
  expect(p.stdout).toMatch(/round 2\/2 {2}clients 3\/3 {2}train_loss \d\.\d{4} {2}test_rmse \d+\.\d{4} {2}test_mae \d+\.\d{4}/);
  const { readFile } = await import('node:fs/promises');
  const out = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')) as { clientExamples: number[]; tabular: { task: string }; final: { testRmse?: number } };
  // 24 train rows of three shops, every row with exactly one client.
  expect(out.clientExamples.reduce((a, b) => a + b, 0)).toBe(24);
  expect(out.clientExamples).toHaveLength(3);
  expect(out.tabular.task).toBe('regression');
  expect(out.final.testRmse).toBeGreaterThan(0);
}, 300_000);

test('--help documents the csv flags', async () => {
  for (const cmd of ['serve', 'join', 'simulate']) {
    const p = spawnFedlink([cmd, '--help']);
    expect(await p.exit(60_000)).toBe(0);
    for (const flag of cmd === 'join' ? ['--label'] : ['--label', '--features', '--task']) expect(p.stdout).toContain(flag);
    if (cmd !== 'serve') expect(p.stdout).toContain('by:<column>');
    if (cmd === 'serve') expect(p.stdout).toContain('--stats');
  }
}, 120_000);

test('serve --data housing + two join --data housing --shard i/2: the join line names the label, clients report the global RMSE', async () => {
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'serve-state'), '--model', 'tabular-mlp', '--data', 'housing', '--rounds', '2', '--min-fit', '2', '--lr', '0.05', '--log-level', 'warn', '--exit-on-finish']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    const args = joinLine!.trim().split(/\s+/);
    expect(args.slice(args.indexOf('--data'), args.indexOf('--data') + 4)).toEqual(['--data', 'housing', '--label', 'price']);
    const joins = ['1/2', '2/2'].map((shard) => spawnFedlink(['join', ...args.map((a) => (a === '1/10' ? shard : a))]));
    expect(await Promise.all(joins.map((j) => j.exit(180_000)))).toEqual([0, 0]);
    for (const j of joins) {
      expect(j.stdout).toContain("800 training rows, encoded with the coordinator's statistics at join");
      expect(j.stdout).toMatch(/round 2 completed: global test RMSE \d+\.\d{4}/);
    }
    expect(await serve.exit(60_000)).toBe(0);
    const rmse = [...serve.stdout.matchAll(/test_rmse (\d+\.\d+)/g)].map((m) => Number(m[1]));
    expect(rmse).toHaveLength(2);
    // The mean predictor's test RMSE on housing is 132.0 (docs/RESULTS.md).
    expect(rmse[1]!).toBeLessThan(rmse[0]!);
    expect(rmse[1]!).toBeLessThan(60);
    // The final model, as serve says to get it: a tabular model is rebuilt from the run's statistics.
    const runId = serve.stdout.match(/fedlink runs export (run_[0-9a-f]+)/)![1]!;
    const list = spawnFedlink(['runs', 'list', '--state-dir', join(dir, 'serve-state')]);
    expect(await list.exit(60_000)).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${runId} +finished +2/2 +tabular-mlp +fedavg `));
    const out = join(dir, 'export');
    const exported = spawnFedlink(['runs', 'export', runId, '--state-dir', join(dir, 'serve-state'), '--out', out]);
    expect([await exported.exit(60_000), exported.stderr]).toEqual([0, '']);
    const loaded = spawnNode([LOAD_DIR, out]);
    expect(await loaded.exit(60_000)).toBe(0);
    const { params } = JSON.parse(loaded.stdout.trim().split('\n').pop()!) as { params: number };
    expect(params).toBeGreaterThan(0);
    expect((await stat(join(out, 'weights.bin'))).size).toBe(4 * params);
  } finally {
    serve.kill();
  }
}, 300_000);
