import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { joinLineOf } from '../helpers/processes.js';

const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
const LOAD_MODEL = fileURLToPath(new URL('../helpers/load-model.mjs', import.meta.url));
const fedlink = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('fedlink command line', () => {
  test.each(['serve', 'join', 'edge', 'simulate', 'keygen', 'runs', 'token', 'cluster'])('%s --help lists its options', (cmd) => {
    const r = fedlink([cmd, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Usage: fedlink ${cmd}`));
    expect(r.stdout).toMatch(/--help/);
  });

  test.each([
    [['simulate', '--clientz', '3'], /unknown option --clientz/],
    [['simulate', '--clients', 'three'], /--clients: 'three' is not a number/],
    [['simulate', '--clients', '0'], /--clients: must be at least 1/],
    [['simulate', '--model', 'resnet'], /--model: 'resnet' is not one of mlp, cnn, cifar-cnn, char-lstm, char-lstm-leaf, text-classifier, tabular-mlp, recommender nor the path of a model.json/],
    [['simulate', '--partition', 'dirichlet:-1'], /--partition: invalid partition/],
    [['simulate', '--round-timeout', 'soon'], /--round-timeout: 'soon' is not a duration/],
    [['simulate', '--rounds'], /--rounds needs a value/],
    [['join'], /--server is required/],
    [['edge'], /--upstream is required/],
    [['edge', '--upstream', 'root:7070'], /--upstream: 'root:7070' is not an http\(s\) URL/],
    [['edge', '--upstream', 'http://root:7070', '--strategy', 'fedadam'], /--strategy\/--aggregator: strategy fedadam .*has a server optimizer \(adam, lr 0.01\); the parent's optimizer steps the model/],
    [['edge', '--upstream', 'http://root:7070', '--strategy', 'scaffold'], /--strategy\/--aggregator: strategy scaffold .*keeps SCAFFOLD control variates, which can't be exact over a tree/],
    [['join', '--server', 'http://x', '--shard', '11/10'], /--shard: '11\/10' is not <i>\/<n>/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['runs', 'explode'], /unknown sub-command 'explode'|no run database/],
    [['token', 'create', '--ttl', 'forever'], /--ttl: 'forever' is not a duration/],
    [['token', 'create', '--uses', '0'], /--uses: must be at least 1/],
    [['cluster', 'status'], /--redis is required/],
    [['cluster', 'explode', '--redis', 'redis://127.0.0.1:1'], /unknown sub-command 'explode'/],
  ])('%j fails with one line naming the problem', (args, message) => {
    const r = fedlink(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  test('simulate runs real clients and writes a results file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-cli-'));
    try {
      const out = join(dir, 'out.json');
      const r = spawnSync(
        process.execPath,
        [BIN, 'simulate', '--clients', '4', '--rounds', '2', '--model', 'mlp', '--partition', 'dirichlet:0.5', '--lr', '0.1', '--workers', '2', '--json', out],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/round 1\/2 {2}clients 4\/4 {2}train_loss \d\.\d{4} {2}test_acc 0\.\d{4}/);
      expect(r.stdout).toMatch(/summary: finished, 2\/2 rounds/);
      // Joining is reported (every client's first welcome) and so is peak memory, in the summary and the JSON.
      expect(r.stdout).toMatch(/^connected: all 4 clients joined [\d.]+ s after the workers started/m);
      expect(r.stdout).toMatch(/summary: .*, connect [\d.]+ s, peak RSS \d+ MiB coordinator \+ \d+ MiB workers$/m);
      const result = JSON.parse(await readFile(out, 'utf8'));
      expect(result.connect.joined).toBe(4);
      expect(result.connect.seconds).toBeGreaterThan(0);
      expect(result.peakRssMiB.coordinator).toBeGreaterThan(0);
      expect(result.peakRssMiB.workers).toBeGreaterThan(0);
      expect(result.config.clients).toBe(4);
      expect(result.config.run.fit.learningRate).toBe(0.1);
      expect(result.rounds).toHaveLength(2);
      expect(result.clientExamples.reduce((a: number, b: number) => a + b, 0)).toBe(8000);
      expect(result.rounds[1].testAccuracy).toBeGreaterThan(result.rounds[0].testAccuracy - 0.05);
      expect(result.rounds[1].testAccuracy).toBeGreaterThan(0.5);
      // Same seed, same run: the partition, the clients' identities, selection and batch order
      // are all derived from it, so a second run reproduces every metric.
      const again = spawnSync(
        process.execPath,
        [BIN, 'simulate', '--clients', '4', '--rounds', '2', '--model', 'mlp', '--partition', 'dirichlet:0.5', '--lr', '0.1', '--workers', '2', '--json', out],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(again.status).toBe(0);
      const second = JSON.parse(await readFile(out, 'utf8'));
      expect(second.clientExamples).toEqual(result.clientExamples);
      const metrics = (rs: { trainLoss: number; testAccuracy: number; testLoss: number }[]) => rs.map((r) => [r.trainLoss, r.testAccuracy, r.testLoss]);
      expect(metrics(second.rounds)).toEqual(metrics(result.rounds));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('simulate --secure-aggregation --dropout: masked rounds, nobody decrypts an individual update', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-cli-'));
    try {
      const out = join(dir, 'out.json');
      const r = spawnSync(
        process.execPath,
        [BIN, 'simulate', '--clients', '6', '--rounds', '2', '--model', 'mlp', '--secure-aggregation', '--dropout', '0.2', '--seed', '3', '--json', out],
        { encoding: 'utf8', timeout: 180_000 },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/summary: finished, 2\/2 rounds/);
      const result = JSON.parse(await readFile(out, 'utf8'));
      expect(result.config.run.secureAggregation).toBe(true);
      expect(result.config.dropout).toBe(0.2);
      expect(result.plaintextUpdatesOpened).toBe(0);
      const completed = result.rounds.filter((x: { status: string }) => x.status === 'completed');
      expect(completed).toHaveLength(2);
      for (const x of completed) expect(x.reported).toBeGreaterThanOrEqual(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('serve + join as separate processes: the device trains, the model is served as tfjs artifacts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-serve-'));
    const serve = spawn(
      process.execPath,
      [BIN, 'serve', '--port', '0', '--state-dir', join(dir, 'state-not-yet-created'), '--model', 'mlp', '--rounds', '2', '--min-fit', '2', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    serve.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const joinLine = await joinLineOf(serve, () => out);
      const args = joinLine.trim().split(/\s+/);
      const url = args[args.indexOf('--server') + 1]!;
      const joins = ['1/2', '2/2'].map((shard) =>
        spawnAsync(['join', ...args.map((a) => (a === '1/10' ? shard : a)), '--backend', 'wasm']),
      );
      const results = await Promise.all(joins);
      for (const r of results) {
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/4000 training examples/);
        expect(r.stdout).toMatch(/\(pinned\)/);
        expect(r.stdout).toMatch(/round 2: sent \d+ KiB sealed update/);
        expect(r.stdout).toMatch(/run finished: final test accuracy 0\.\d+/);
      }
      expect(out).toMatch(/round 2\/2 {2}clients 2\/2/);
      const status = (await (await fetch(`${url}/api/status`)).json()) as { status: string; round: number };
      expect(status).toMatchObject({ status: 'finished', round: 2 });
      const loaded = spawnSync(process.execPath, [LOAD_MODEL, `${url}/api/model`], { encoding: 'utf8', timeout: 60_000 });
      expect(loaded.status).toBe(0);
      const { params, first } = JSON.parse(loaded.stdout) as { params: number; first: number[] };
      expect(params).toBe(199_210);
      const bin = new Float32Array(await (await fetch(`${url}/api/model/weights.bin`)).arrayBuffer());
      expect(first).toEqual(Array.from(bin.subarray(0, 4)));
    } finally {
      serve.kill('SIGTERM');
      await new Promise((r) => serve.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    }
    // Graceful shutdown on SIGTERM exits 0.
    expect(serve.exitCode).toBe(0);
  });
});

function spawnAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
