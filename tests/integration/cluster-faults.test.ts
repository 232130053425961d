import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FedlinkClient, type FitOutcome, type Trainer } from '@fedlink/client';
import { PostgresRunRecords } from '@fedlink/coordinator';
import { generateIdentity } from '@fedlink/crypto';
import type { RunEnd } from '@fedlink/protocol';
import { FEDLINK_BIN, type Proc, freePort, spawnFedlink } from '../helpers/processes.js';
import { type PostgresService, type RedisService, startPostgres, startRedis } from '../helpers/services.js';
import { type Balancer, startBalancer } from '../helpers/tcp-balancer.js';

/**
 * Node processes (`fedlink serve --cluster`) killed with SIGKILL mid-round, behind one address
 * (a TCP balancer), with real redis-server and postgres. Clients run in this process and hold
 * their training in a chosen round until the kill is done.
 */

const TOKEN = 'cluster-faults-token-0123456789';
const CLIENTS = 9;
const ROUNDS = 4;

class HeldTrainer implements Trainer {
  round = 0;
  held = false;
  constructor(
    private readonly index: number,
    private readonly holdRound: number,
    private readonly gate: Promise<void>,
    private readonly onHeld: () => void,
  ) {}
  get numExamples() {
    return 10 + this.index;
  }
  async prepare() {}
  async fit(global: Float32Array): Promise<FitOutcome> {
    if (this.round === this.holdRound && !this.held) {
      this.held = true;
      this.onHeld();
      await this.gate;
    }
    const delta = new Float32Array(global.length);
    for (let i = 0; i < delta.length; i++) delta[i] = (Math.cos(i + this.index) * 0.05 - global[i]!) * 0.1;
    return { delta, numExamples: this.numExamples, metrics: { loss: 1 } };
  }
  dispose() {}
}

interface Cluster {
  nodes: Map<string, Proc>;
  ports: Map<string, number>;
  balancer: Balancer;
  database: string;
  stateDir: string;
  name: string;
}

describe('cluster nodes killed mid-round', () => {
  let redis: RedisService;
  let postgres: PostgresService;
  let dir: string;
  const procs: Proc[] = [];
  let counter = 0;

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    dir = await mkdtemp(join(tmpdir(), 'fedlink-cluster-faults-'));
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) p.kill();
    await redis?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function startNode(c: Cluster, id: string): Proc {
    const p = spawnFedlink([
      'serve', '--cluster', redis.url, '--cluster-name', c.name, '--node-id', id, '--database', c.database, '--port', String(c.ports.get(id)), '--state-dir', c.stateDir,
      '--model', 'mlp', '--rounds', String(ROUNDS), '--fraction', '1', '--over-select', '0', '--min-fit', '4', '--min-available', String(CLIENTS),
      '--token', TOKEN, '--exit-on-finish', '--log-format', 'json', '--log-level', 'info', '--round-timeout', '60s', '--wait-timeout', '90s',
    ]);
    procs.push(p);
    c.nodes.set(id, p);
    return p;
  }

  async function cluster(): Promise<Cluster> {
    const name = `faults${++counter}`;
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const ports = new Map<string, number>();
    for (const id of ['n0', 'n1', 'n2']) ports.set(id, await freePort());
    const c: Cluster = { nodes: new Map(), ports, balancer: await startBalancer([...ports.values()]), database: postgres.url.replace(/\/fedlink$/, `/${name}`), stateDir: join(dir, name), name };
    // The first node creates the state dir's identity, which every node serves (clients pin one key).
    await startNode(c, 'n0').waitFor(/listening/);
    await Promise.all(['n1', 'n2'].map((id) => startNode(c, id).waitFor(/listening/)));
    return c;
  }

  function clients(c: Cluster, holdRound: number) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let heldCount = 0;
    let allHeld!: () => void;
    const held = new Promise<void>((r) => (allHeld = r));
    const trainers = Array.from({ length: CLIENTS }, (_, i) => new HeldTrainer(i, holdRound, gate, () => ++heldCount === CLIENTS && allHeld()));
    const runs: Promise<RunEnd>[] = trainers.map((t) => {
      const client = new FedlinkClient({ url: c.balancer.url, token: TOKEN, identity: generateIdentity(), trainer: t, platform: 'node', backend: 'test' });
      client.on('roundStart', (r: number) => (t.round = r));
      return client.run();
    });
    return { release, held, runs };
  }

  const leaderOf = (c: Cluster): string => {
    const leaders = [...c.nodes].filter(([, p]) => /leading \(fencing token \d+\)/.test(p.stdout)).map(([id]) => id);
    expect(leaders.length).toBeGreaterThanOrEqual(1);
    return leaders[leaders.length - 1]!;
  };

  async function completedRounds(c: Cluster) {
    const records = await PostgresRunRecords.open(c.database);
    const run = (await records.runs())[0]!;
    const rounds = (await records.rounds(run.runId)).filter((r) => r.status === 'completed');
    const participation = await records.participation(run.runId);
    await records.close();
    return { run, rounds, participation };
  }

  test('SIGKILL the leader mid-round: the lease moves, its clients reconnect to the other nodes, every round is counted once with every update once', async () => {
    const c = await cluster();
    const { release, held, runs } = clients(c, 2);
    await held;
    const old = leaderOf(c);
    const oldToken = Number(/leading \(fencing token (\d+)\)/.exec(c.nodes.get(old)!.stdout)![1]);
    await c.nodes.get(old)!.waitFor(/round 1\/4 {2}clients 9\/9/);
    // fedlink cluster status sees the three nodes, the leader, the 9 clients and the open round 2.
    const status = spawnSync(process.execPath, [FEDLINK_BIN, 'cluster', 'status', '--redis', redis.url, '--cluster-name', c.name, '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(status.status).toBe(0);
    const st = JSON.parse(status.stdout);
    expect(st.leader).toEqual({ nodeId: old, token: oldToken });
    expect(st.nodes.map((n: { nodeId: string }) => n.nodeId).sort()).toEqual(['n0', 'n1', 'n2']);
    expect(st.nodes.reduce((a: number, n: { clients: number }) => a + n.clients, 0)).toBe(CLIENTS);
    expect(st.openRound).toMatchObject({ round: 2, attempt: 1, fence: oldToken });
    const killedAt = Date.now();
    c.nodes.get(old)!.kill('SIGKILL');
    await c.nodes.get(old)!.exited;
    c.nodes.delete(old);
    const survivors = [...c.nodes.values()];
    const [, token] = await Promise.race(survivors.map((p) => p.waitFor(/leading \(fencing token (\d+)\)/, 60_000)));
    process.stderr.write(`lease moved ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the leader's SIGKILL\n`);
    expect(Number(token)).toBeGreaterThan(oldToken);
    release();
    for (const p of survivors) expect(await p.exit(180_000)).toBe(0);
    for (const end of await Promise.all(runs)) expect(end.status).toBe('finished');

    const { run, rounds, participation } = await completedRounds(c);
    expect(run).toMatchObject({ status: 'finished', round: ROUNDS });
    expect(rounds.map((r) => [r.round, r.reported])).toEqual([[1, 9], [2, 9], [3, 9], [4, 9]]);
    for (const r of rounds) {
      const ids = participation.filter((p) => p.round === r.round && p.attempt === r.attempt && p.outcome === 'reported').map((p) => p.clientId);
      expect(ids).toHaveLength(CLIENTS);
      expect(new Set(ids).size).toBe(CLIENTS);
    }
    await c.balancer.close();
  }, 400_000);

  test('SIGKILL a follower mid-round: its clients\' updates are lost for that round only, the run goes on', async () => {
    const c = await cluster();
    const { release, held, runs } = clients(c, 2);
    await held;
    const leader = leaderOf(c);
    const follower = [...c.nodes.keys()].find((id) => id !== leader)!;
    c.nodes.get(follower)!.kill('SIGKILL');
    await c.nodes.get(follower)!.exited;
    c.nodes.delete(follower);
    release();
    for (const p of c.nodes.values()) expect(await p.exit(180_000)).toBe(0);
    for (const end of await Promise.all(runs)) expect(end.status).toBe('finished');
    const { run, rounds } = await completedRounds(c);
    expect(run).toMatchObject({ status: 'finished', round: ROUNDS });
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    // Round 2 closed without the dead node's clients (3 of 9: the balancer spread them evenly); later rounds have all 9 again.
    expect(rounds[1]!.reported).toBe(6);
    expect(rounds.filter((r) => r.round !== 2).map((r) => r.reported)).toEqual([9, 9, 9]);
    await c.balancer.close();
  }, 400_000);

  test('restart the whole cluster: it resumes from PostgreSQL at its last completed round', async () => {
    const c = await cluster();
    const { release, held, runs } = clients(c, 3);
    await held;
    for (const p of c.nodes.values()) p.kill('SIGKILL');
    await Promise.all([...c.nodes.values()].map((p) => p.exited));
    const before = await completedRounds(c);
    expect(before.run).toMatchObject({ status: 'running', round: 2 });
    const ids = [...c.nodes.keys()];
    c.nodes.clear();
    for (const id of ids) startNode(c, id);
    release();
    for (const p of c.nodes.values()) expect(await p.exit(180_000)).toBe(0);
    for (const end of await Promise.all(runs)) expect(end.status).toBe('finished');
    const leader = [...c.nodes.values()].find((p) => /leading/.test(p.stdout))!;
    expect(leader.stderr).toMatch(/"round":2,"msg":"cluster: resuming"/);
    expect(leader.stdout).not.toMatch(/round [12]\/4/);
    const { run, rounds } = await completedRounds(c);
    expect(run).toMatchObject({ runId: before.run.runId, status: 'finished', round: ROUNDS });
    expect(rounds.map((r) => [r.round, r.reported])).toEqual([[1, 9], [2, 9], [3, 9], [4, 9]]);
    await c.balancer.close();
  }, 400_000);
});
