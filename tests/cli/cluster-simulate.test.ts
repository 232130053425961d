import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { subset } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';
import { FEDLINK_BIN } from '../helpers/processes.js';
import { writeIdx } from '../helpers/idx.js';
import { type PostgresService, type RedisService, startPostgres, startRedis } from '../helpers/services.js';

// simulate --nodes from outside, with real tfjs training: 3 cluster nodes (real redis-server and
// postgres) and 30 clients give the final model (--save-model) of one coordinator with the same
// seed, within 1e-6. The leader plans each round over all nodes' clients as one coordinator
// would (same selection, same per-client seeds), so what remains is float rounding of the
// per-node partial sums.

let redis: RedisService;
let postgres: PostgresService;
beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
}, 120_000);
afterAll(async () => {
  await redis?.stop();
  await postgres?.stop();
});

test('simulate --nodes 3 --clients 30 saves the model of a 1-node run of the same seed (max |diff| <= 1e-6)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-cluster-sim-'));
  try {
    const mnist = await loadMnistPackage();
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    await writeIdx(dir, subset(mnist.train, range(600)), subset(mnist.test, range(100)));
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE sim');
    await admin.end();
    const simulate = (name: string, extra: string[]) => {
      const args = ['simulate', '--clients', '30', '--rounds', '2', '--model', 'mlp', '--data', `idx:${dir}`, '--seed', '21', '--epochs', '2', '--batch-size', '8', '--lr', '0.1', '--backend', 'cpu', '--workers', '1'];
      const r = spawnSync(process.execPath, [FEDLINK_BIN, ...args, ...extra, '--save-model', join(dir, name), '--json', join(dir, `${name}.json`)], { encoding: 'utf8', timeout: 280_000 });
      // (stderr shows in the failure message; tfjs prints a banner there on the cpu backend)
      expect({ status: r.status, stderr: r.stderr.slice(-2000) }).toMatchObject({ status: 0 });
      return r.stdout;
    };
    const clusterOut = simulate('cluster', ['--nodes', '3', '--redis', redis.url, '--database', postgres.url.replace(/\/fedlink$/, '/sim')]);
    simulate('single', []);
    expect(clusterOut).toMatch(/cluster: 3 in-process node\(s\)/);
    expect(clusterOut).toMatch(/round 1\/2 {2}clients 30\/30 /);
    expect(clusterOut).toMatch(/round 2\/2 {2}clients 30\/30 /);
    const weights = async (name: string) => new Float32Array((await readFile(join(dir, name, 'weights.bin'))).buffer.slice(0));
    const [cluster, single] = [await weights('cluster'), await weights('single')];
    expect(cluster.length).toBe(199_210);
    expect(single.length).toBe(199_210);
    let diff = 0;
    for (let i = 0; i < cluster.length; i++) diff = Math.max(diff, Math.abs(cluster[i]! - single[i]!));
    expect(diff).toBeLessThanOrEqual(1e-6);
    const results = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')) as { rounds: { status: string; reported: number }[]; final: { status: string } };
    expect(results.final.status).toBe('finished');
    expect(results.rounds.map((r) => [r.status, r.reported])).toEqual([['completed', 30], ['completed', 30]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 600_000);
