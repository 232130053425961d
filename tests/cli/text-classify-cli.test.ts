import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClassifyExamples, topicsCorpus } from '@fedlink/ml';
import { loadTextSplit } from '@fedlink/ml/node';
import { spawnFedlink } from '../helpers/processes.js';

/** Documents `from..to` of the topics corpus as a folder of class sub-folders (text:<dir> classification). */
async function writeClassFolders(root: string, from: number, to: number, rename: Record<string, string> = {}): Promise<void> {
  const c = topicsCorpus();
  for (let k = from; k < to; k++) {
    const cls = rename[c.labels[k]!] ?? c.labels[k]!;
    await mkdir(join(root, cls), { recursive: true });
    await writeFile(join(root, cls, `${k}.txt`), c.docs[k]!);
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-classify-cli-'));
  await writeClassFolders(join(dir, 'server'), 0, 600);
  await writeClassFolders(join(dir, 'alice'), 600, 1100);
  await writeClassFolders(join(dir, 'bob'), 1100, 1600);
  // A device whose folders name a class the run doesn't have.
  await writeClassFolders(join(dir, 'carol'), 1600, 1700, { weather: 'gardening' });
  await mkdir(join(dir, 'dave', 'sport'), { recursive: true });
  await writeFile(join(dir, 'dave', 'sport', 'a.txt'), 'goal match team');
  await mkdir(join(dir, 'dave', 'weather'), { recursive: true });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test('serve --data text:<class folders> --model text-classifier: two joins with their own folders train it past the majority class; an unknown class is refused at join', async () => {
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', 'text-classifier', '--data', `text:${join(dir, 'server')}`, '--rounds', '5', '--min-fit', '2', '--lr', '2', '--epochs', '2', '--log-level', 'warn', '--exit-on-finish']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    const [, size, classes, hash] = /vocabulary {3}(\d+) words, classify, 80-word windows, classes ([a-z, ]+), hash ([0-9a-f]{64})/.exec(serve.stdout)!;
    expect(classes).toBe('cooking, finance, sport, weather');
    expect(Number(size)).toBeGreaterThan(300);
    const base = joinLine!.trim().split(/\s+/).filter((a) => a !== 'text:<your' && a !== 'text>' && a !== '--data');
    expect(base).toContain(hash);

    // carol's 'gardening' is none of the run's classes: a typed error at join, and she takes no part.
    const carol = spawnFedlink(['join', ...base, '--data', `text:${join(dir, 'carol')}`]);
    expect(await carol.exit(120_000)).toBe(1);
    expect(carol.stderr).toContain("fedlink join: unsupported: class 'gardening' is not one of the run's classes (cooking, finance, sport, weather)");
    expect(carol.stdout).not.toMatch(/round \d+: sent/);

    const joins = ['alice', 'bob'].map((who) => spawnFedlink(['join', ...base, '--data', `text:${join(dir, who)}`]));
    const codes = await Promise.all(joins.map((j) => j.exit(300_000)));
    expect(joins[0]!.stdout).toContain(': 500 classify examples, encoded with the run\'s vocabulary once it arrives');
    for (const j of joins) expect(j.stdout).toMatch(/round 5: sent \d+ KiB sealed update/);
    expect(codes).toEqual([0, 0]);
    expect(await serve.exit(120_000)).toBe(0);

    // The coordinator's test split (a seeded 10% of its 600 documents) and its majority class.
    const { test } = await loadTextSplit(join(dir, 'server'));
    const labels = (test as ClassifyExamples).labels;
    const counts = new Map<string, number>();
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const majority = Math.max(...counts.values()) / labels.length;
    const accuracies = [...serve.stdout.matchAll(/test_acc (\d\.\d+)/g)].map((m) => Number(m[1]));
    expect(accuracies).toHaveLength(5);
    expect(accuracies[4]!).toBeGreaterThan(majority + 0.2);
  } finally {
    serve.kill();
  }
}, 600_000);

test('serve --data topics prints a join line for the generated corpus; two authors join with it and the run finishes', async () => {
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state-topics'), '--model', 'text-classifier', '--data', 'topics', '--rounds', '2', '--min-fit', '2', '--lr', '2', '--log-level', 'warn', '--exit-on-finish']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    expect(serve.stdout).toMatch(/vocabulary {3}474 words, classify, 80-word windows, classes cooking, finance, sport, weather, hash [0-9a-f]{64}/);
    const args = joinLine!.trim().split(/\s+/);
    expect(args.slice(args.indexOf('--data'))).toEqual(['--data', 'topics', '--partition', 'natural', '--shard', '1/12']);
    const joins = ['1/12', '2/12'].map((shard) => spawnFedlink(['join', ...args.slice(0, -1), shard]));
    const codes = await Promise.all(joins.map((j) => j.exit(300_000)));
    // The two most prolific authors' training documents (300 and 222 of the 1,800).
    expect(joins[0]!.stdout).toContain('data topics shard 1/12: 300 classify examples');
    expect(joins[1]!.stdout).toContain('data topics shard 2/12: 222 classify examples');
    expect(codes).toEqual([0, 0]);
    expect(await serve.exit(120_000)).toBe(0);
    expect([...serve.stdout.matchAll(/test_acc (\d\.\d+)/g)]).toHaveLength(2);
  } finally {
    serve.kill();
  }
}, 600_000);

test('an empty class folder is refused at join before connecting', async () => {
  const dave = spawnFedlink(['join', '--server', 'http://127.0.0.1:9', '--data', `text:${join(dir, 'dave')}`]);
  expect(await dave.exit(60_000)).toBe(1);
  expect(dave.stderr).toContain(`fedlink join: text:${join(dir, 'dave')}: class folder weather holds no .txt files`);
}, 120_000);
