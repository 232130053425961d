import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { FedlinkClient, type FitOutcome, type Trainer } from '@fedlink/client';
import { type CoordinatorConfig, DEFAULT_RUN, PostgresRunRecords, type RunningClusterNode, type RunSettings, silentLog, startClusterNode, startCoordinator } from '@fedlink/coordinator';
import { generateIdentity } from '@fedlink/crypto';
import type { TrainConfig } from '@fedlink/protocol';
import { testCoordinatorConfig } from '../helpers/coordinator.js';
import { type PostgresService, type RedisService, startPostgres, startRedis } from '../helpers/services.js';

/**
 * A 3-node cluster (real redis-server and postgres on loopback) against one coordinator: the
 * same seed, settings and clients give the same final weights.
 */

const TOKEN = 'cluster-test-token-0123456789';
const CLIENTS = 30;
const ROUNDS = 3;

/** Pulls the global weights a tenth of the way to a target of its own (not on a grid: float32 rounding shows). */
class PullTrainer implements Trainer {
  constructor(private readonly index: number) {}
  get numExamples() {
    return 20 + 7 * this.index;
  }
  async prepare() {}
  async fit(global: Float32Array, _config: TrainConfig): Promise<FitOutcome> {
    const delta = new Float32Array(global.length);
    for (let i = 0; i < delta.length; i++) {
      const target = Math.sin(i * 0.37 + this.index * 1.3) * 0.1;
      delta[i] = (target - global[i]!) * 0.1;
    }
    return { delta, numExamples: this.numExamples, metrics: { loss: 1 / (1 + this.index) } };
  }
  dispose() {}
}

const run: RunSettings = {
  ...DEFAULT_RUN,
  model: 'mlp',
  rounds: ROUNDS,
  seed: 77,
  selection: { ...DEFAULT_RUN.selection, fraction: 1, overSelect: 0, minFit: CLIENTS, minAvailable: CLIENTS },
  roundTimeoutMs: 60_000,
  waitTimeoutMs: 60_000,
};

const coordinatorConfig = (stateDir: string): CoordinatorConfig => testCoordinatorConfig(stateDir, run, TOKEN);

const identities = Array.from({ length: CLIENTS }, () => generateIdentity());
const clientsFor = (urlOf: (i: number) => string) =>
  identities.map((identity, i) => new FedlinkClient({ url: urlOf(i), token: TOKEN, identity, trainer: new PullTrainer(i), platform: 'node', backend: 'test' }));

describe('a cluster of coordinator processes behind one address', () => {
  let redis: RedisService;
  let postgres: PostgresService;
  let dir: string;
  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    dir = await mkdtemp(join(tmpdir(), 'fedlink-cluster-'));
  }, 120_000);
  afterAll(async () => {
    await redis?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('3 nodes with 30 clients spread over them give the weights of 1 node (max diff <= 1e-6), each update counted once', async () => {
    // Reference: one coordinator, all 30 clients.
    const single = await startCoordinator({ ...coordinatorConfig(join(dir, 'single')), persist: false }, { log: silentLog });
    const plain = clientsFor(() => single.url);
    const ends = plain.map((c) => c.run());
    const end = await single.done;
    expect(end).toMatchObject({ status: 'finished', rounds: ROUNDS });
    await Promise.all(ends);
    const reference = single.context.model.weights.slice();
    await single.close();

    const nodes: RunningClusterNode[] = [];
    for (let n = 0; n < 3; n++) {
      nodes.push(await startClusterNode({ coordinator: coordinatorConfig(join(dir, `node${n}`)), redisUrl: redis.url, database: postgres.url, cluster: 'equal', nodeId: `n${n}`, log: silentLog }));
    }
    expect(new Set(nodes.map((x) => x.runId)).size).toBe(1);
    const rounds: { round: number; reported: number; status: string }[] = [];
    for (const x of nodes) x.on('roundEnded', (r) => rounds.push({ round: r.round, reported: r.reported, status: r.status }));
    const spread = clientsFor((i) => nodes[i % 3]!.coordinator.url);
    const clientEnds = spread.map((c) => c.run());
    const nodeEnds = await Promise.all(nodes.map((x) => x.done));
    for (const e of nodeEnds) expect(e.status).toBe('finished');
    await Promise.all(clientEnds);
    expect(nodes.filter((x) => x.leading).length).toBeLessThanOrEqual(1);
    // Every round once, with all 30 updates in it.
    expect(rounds).toEqual([1, 2, 3].map((round) => ({ round, reported: CLIENTS, status: 'completed' })));

    const records = await PostgresRunRecords.open(postgres.url);
    const stored = await records.run(nodes[0]!.runId);
    expect(stored).toMatchObject({ status: 'finished', round: ROUNDS });
    const completed = (await records.rounds(nodes[0]!.runId)).filter((r) => r.status === 'completed');
    expect(completed.map((r) => [r.round, r.reported])).toEqual([[1, 30], [2, 30], [3, 30]]);
    const participation = await records.participation(nodes[0]!.runId);
    for (let r = 1; r <= ROUNDS; r++) {
      const ids = participation.filter((p) => p.round === r && p.outcome === 'reported').map((p) => p.clientId);
      expect(new Set(ids).size).toBe(CLIENTS);
      expect(ids).toHaveLength(CLIENTS);
    }
    const final = (await records.loadLatestCheckpoint(nodes[0]!.runId))!;
    const seeded = (await records.loadLatestCheckpoint(nodes[0]!.runId, 0))!;
    await records.close();
    expect(final.stored.round).toBe(ROUNDS);
    let maxDiff = 0;
    for (let i = 0; i < reference.length; i++) maxDiff = Math.max(maxDiff, Math.abs(final.checkpoint.weights[i]! - reference[i]!));
    expect(final.checkpoint.weights.length).toBe(reference.length);
    expect(maxDiff).toBeLessThanOrEqual(1e-6);
    // Not trivially equal: the run moved the model well beyond that tolerance.
    expect(seeded.stored.round).toBe(0);
    let moved = 0;
    for (let i = 0; i < reference.length; i++) moved = Math.max(moved, Math.abs(seeded.checkpoint.weights[i]! - reference[i]!));
    expect(moved).toBeGreaterThan(1e-2);

    // The ledger counted each client once per attempt.
    const r = new Redis(redis.url);
    const ledgers = await r.keys('fedlink:equal:ledger:*');
    expect(ledgers).toHaveLength(ROUNDS);
    for (const k of ledgers) expect(await r.scard(k)).toBe(CLIENTS);
    r.disconnect();
    await Promise.all(nodes.map((x) => x.close()));
  }, 300_000);
});

