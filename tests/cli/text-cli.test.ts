import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnFedlink } from '../helpers/processes.js';

const LINE = 'the cat sat on the mat and the rat sat on the hat. ';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-text-cli-'));
  await writeFile(join(dir, 'server.txt'), LINE.repeat(12));
  await writeFile(join(dir, 'alice.txt'), 'the mat sat on the cat. '.repeat(6));
  // Characters the coordinator never saw (capitals, '!'): encoded as <unk> with the run's vocabulary.
  await writeFile(join(dir, 'bob.txt'), 'THE RAT! the hat sat on the rat. '.repeat(5));
  await writeFile(join(dir, 'empty.txt'), '');
  await writeFile(join(dir, 'short.txt'), 'too short');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test("serve --data text: ships its vocabulary; two joins encode their own files with it and train; join pins its hash", async () => {
  const serve = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state'), '--model', 'char-lstm', '--data', `text:${join(dir, 'server.txt')}`, '--seq-length', '10', '--text-stride', '3', '--rounds', '2', '--min-fit', '2', '--batch-size', '10', '--log-level', 'warn', '--exit-on-finish']);
  try {
    const [, joinLine] = (await serve.waitFor(/npx fedlink join (.*)/, 120_000))!;
    const [, size, hash] = /vocabulary {3}(\d+) chars, next-char, 10-char windows, hash ([0-9a-f]{64})/.exec(serve.stdout)!;
    // 13 distinct characters in server.txt, after <pad> and <unk>.
    expect(Number(size)).toBe(15);
    const args = joinLine!.trim().split(/\s+/);
    expect(args.slice(args.indexOf('--vocab-hash'), args.indexOf('--vocab-hash') + 6)).toEqual(['--vocab-hash', hash, '--data', 'text:<your', 'text>', '--seq-length']);
    const base = args.filter((a) => a !== 'text:<your' && a !== 'text>' && a !== '--data');
    const joins = ['alice.txt', 'bob.txt'].map((f) => spawnFedlink(['join', ...base, '--data', `text:${join(dir, f)}`, '--text-stride', '2']));
    const codes = await Promise.all(joins.map((j) => j.exit(300_000)));
    for (const j of joins) {
      expect(j.stdout).toContain(`vocabulary 15 chars (hash ${hash}, pinned)`);
      expect(j.stdout).toMatch(/round 2: sent \d+ KiB sealed update/);
    }
    expect(joins[0]!.stdout).toMatch(/: 67 next-char examples, encoded with the run's vocabulary once it arrives/);
    expect(codes).toEqual([0, 0]);
    expect(await serve.exit(120_000)).toBe(0);
    expect([...serve.stdout.matchAll(/test_acc (\d\.\d+)/g)]).toHaveLength(2);
  } finally {
    serve.kill();
  }
}, 600_000);

test('bad text is refused before anything starts: an empty file at join, too little text at serve, natural partition of images', async () => {
  const empty = spawnFedlink(['join', '--server', 'http://127.0.0.1:9', '--data', `text:${join(dir, 'empty.txt')}`]);
  expect(await empty.exit(60_000)).toBe(1);
  expect(empty.stderr).toContain(`fedlink join: text:${join(dir, 'empty.txt')}: the file is empty`);
  const short = spawnFedlink(['serve', '--port', '0', '--state-dir', join(dir, 'state-short'), '--model', 'char-lstm', '--data', `text:${join(dir, 'short.txt')}`]);
  expect(await short.exit(60_000)).toBe(1);
  expect(short.stderr).toContain('9 character(s), fewer than one sequence of 80 and its next character (81) in any document');
  const natural = spawnFedlink(['simulate', '--partition', 'natural', '--data', 'mnist']);
  expect(await natural.exit(60_000)).toBe(2);
  expect(natural.stderr).toContain('--partition: natural: only text data (text:<file-or-dir>, shakespeare, topics) has speakers, files or authors to split by');
}, 200_000);
