import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { FedlinkClient, type FitOutcome, type Trainer } from '@fedlink/client';
import { ClusterStrategyError, type CoordinatorConfig, DEFAULT_RUN, PostgresRunRecords, type RunningClusterNode, type RunSettings, consoleLog, silentLog, startClusterNode } from '@fedlink/coordinator';
import { presetSpec } from '@fedlink/core';
import { type Identity, clientIdOf, generateIdentity } from '@fedlink/crypto';
import { Redis } from 'ioredis';
import { DASHBOARD_EVENTS, EVENTS, type DashboardClient, type DashboardCluster, type DashboardOpenRound, type DashboardRound, type DashboardSnapshot } from '@fedlink/protocol';
import { testCoordinatorConfig } from '../helpers/coordinator.js';
import { type PostgresService, type RedisService, startPostgres, startRedis } from '../helpers/services.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What every node of a cluster serves is the cluster's state: a follower's /api/status,
 * /api/rounds and dashboard show the leader's open round, every node's clients, the rounds
 * recorded in PostgreSQL and the leader; the dashboard's live events reach a follower's
 * dashboard through socket.io's Redis adapter.
 */

const TOKEN = 'cluster-shared-token-0123456789';
const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
const CLIENTS = 9;

/** Waits at its first fit until released (so the test can look at an open round), then moves the weights a little. */
class GatedTrainer implements Trainer {
  private first = true;
  constructor(
    private readonly index: number,
    private readonly gate: Promise<void>,
  ) {}
  get numExamples() {
    return 10 + this.index;
  }
  async prepare() {}
  async fit(global: Float32Array): Promise<FitOutcome> {
    if (this.first) {
      this.first = false;
      await this.gate;
    }
    const delta = new Float32Array(global.length).fill(0.001 * (this.index + 1));
    return { delta, numExamples: this.numExamples, metrics: { loss: 1 } };
  }
  dispose() {}
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Polls an async condition until it holds; fails naming `what`. For state with no event to await. */
async function eventually<T>(read: () => Promise<T>, cond: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (cond(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ClusterStatusBody {
  runId: string;
  status: string;
  round: number;
  rounds: number;
  phase: string;
  openRound: (Omit<DashboardOpenRound, 'rejected'> & { rejected?: number }) | null;
  clients: DashboardClient[];
  settings: RunSettings;
  cluster: DashboardCluster;
}

const run: RunSettings = {
  ...DEFAULT_RUN,
  model: 'mlp',
  rounds: 2,
  seed: 5,
  selection: { ...DEFAULT_RUN.selection, fraction: 1, overSelect: 0, minFit: CLIENTS, minAvailable: CLIENTS },
  roundTimeoutMs: 60_000,
  waitTimeoutMs: 60_000,
};

const coordinatorConfig = (stateDir: string): CoordinatorConfig => testCoordinatorConfig(stateDir, run, TOKEN);

describe('every node serves the cluster state', () => {
  let redis: RedisService;
  let postgres: PostgresService;
  let dir: string;
  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    dir = await mkdtemp(join(tmpdir(), 'fedlink-cluster-shared-'));
  }, 120_000);
  afterAll(async () => {
    await redis?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("a follower's /api/status, /api/rounds and dashboard show the leader's round, every node's clients and the leader", async () => {
    const nodes: RunningClusterNode[] = [];
    for (let n = 0; n < 3; n++) {
      nodes.push(await startClusterNode({ coordinator: coordinatorConfig(join(dir, `node${n}`)), redisUrl: redis.url, database: postgres.url, cluster: 'shared', nodeId: `n${n}`, log: process.env.DEBUG_CLUSTER ? consoleLog("info") : silentLog }));
    }
    const dashboards: { close(): void }[] = [];
    try {
      const leader = await eventually(async () => nodes.find((x) => x.leading), (x) => x !== undefined, 'a leader');
      const li = nodes.indexOf(leader!);
      const follower = nodes[(li + 1) % 3]!;
      const status = async () => (await (await fetch(`${follower.coordinator.url}/api/status`)).json()) as ClusterStatusBody;

      // The follower's dashboard: its snapshot is the cluster's, then the cluster's events.
      const seen: { event: string; payload: unknown }[] = [];
      const followerDash = io(`${follower.coordinator.url}/dashboard`, { transports: ['websocket'], reconnection: false, forceNew: true });
      dashboards.push(followerDash);
      followerDash.onAny((event: string, payload: unknown) => void seen.push({ event, payload }));
      const snapshot = await new Promise<DashboardSnapshot>((resolve) => followerDash.once(DASHBOARD_EVENTS.snapshot, resolve));
      expect(snapshot.cluster).toEqual({ node: follower.nodeId, leader: { nodeId: leader!.nodeId, token: expect.any(Number) }, nodes: [0, 1, 2].map((n) => ({ nodeId: `n${n}`, clients: 0 })) });
      expect(snapshot).toMatchObject({ status: 'running', round: 0, rounds: [], clients: [], run: { runId: leader!.runId, rounds: 2, selection: { minFit: CLIENTS, minAvailable: CLIENTS } } });

      // Nine clients, three on each node; each node's clients wait at their first fit.
      const gates = [deferred(), deferred(), deferred()];
      const clients = Array.from({ length: CLIENTS }, (_, i) =>
        new FedlinkClient({ url: nodes[i % 3]!.coordinator.url, token: TOKEN, identity: generateIdentity(), trainer: new GatedTrainer(i, gates[i % 3]!.promise), platform: 'node', backend: 'test', name: `c${i}` }),
      );
      const clientEnds = clients.map((c) => c.run());

      // The follower shows the leader's open round and the clients of all three nodes.
      const open = await eventually(status, (s) => s.openRound?.round === 1 && s.clients.length === CLIENTS, 'round 1 open with 9 clients on the follower');
      expect(open.cluster.leader?.nodeId).toBe(leader!.nodeId);
      expect(open.cluster.node).toBe(follower.nodeId);
      expect(open.cluster.nodes).toEqual([0, 1, 2].map((n) => ({ nodeId: `n${n}`, clients: 3 })));
      expect(open.openRound).toMatchObject({ round: 1, attempt: 1, selected: CLIENTS, target: CLIENTS, reported: 0 });
      expect(open).toMatchObject({ status: 'running', phase: 'training', round: 0, rounds: 2, runId: leader!.runId });
      // The cluster's settings, not the node's own per-node limits.
      expect(open.settings.selection).toMatchObject({ minFit: CLIENTS, minAvailable: CLIENTS });
      const byNode = new Map<string, string[]>();
      for (const c of open.clients) byNode.set(c.node!, [...(byNode.get(c.node!) ?? []), c.name!]);
      expect([...byNode.keys()].sort()).toEqual(['n0', 'n1', 'n2']);
      for (let n = 0; n < 3; n++) expect(byNode.get(`n${n}`)!.sort()).toEqual([n, n + 3, n + 6].map((i) => `c${i}`));

      // The leader's own clients report: the follower sees the cluster-wide count move.
      gates[li]!.resolve();
      const partly = await eventually(status, (s) => (s.openRound?.reported ?? 0) >= 3, 'three updates counted on the follower');
      expect(partly.openRound).toMatchObject({ round: 1, reported: 3 });
      for (const g of gates) g.resolve();

      const ends = await Promise.all(nodes.map((x) => x.done));
      for (const e of ends) expect(e.status).toBe('finished');
      await Promise.all(clientEnds);

      // Completed rounds from PostgreSQL, on the follower.
      const rounds = (await (await fetch(`${follower.coordinator.url}/api/rounds`)).json()) as { rounds: DashboardRound[] };
      expect(rounds.rounds.map((r) => [r.round, r.status, r.reported])).toEqual([
        [1, 'completed', CLIENTS],
        [2, 'completed', CLIENTS],
      ]);
      const after = await eventually(status, (s) => s.status === 'finished', 'the run finished on the follower');
      expect(after).toMatchObject({ status: 'finished', phase: 'finished', round: 2, openRound: null });

      // The follower's dashboard got the leader's events (through the Redis adapter), and none of its own partial records.
      await eventually(async () => seen.map((s) => s.event), (ev) => ev.includes(DASHBOARD_EVENTS.runEnded), 'run:ended on the follower dashboard');
      const records = seen.filter((s) => s.event === DASHBOARD_EVENTS.round).map((s) => s.payload as DashboardRound);
      expect(records.map((r) => [r.round, r.status, r.reported])).toEqual([
        [1, 'completed', CLIENTS],
        [2, 'completed', CLIENTS],
      ]);
      expect(records).toEqual(rounds.rounds);
      const started = seen.filter((s) => s.event === DASHBOARD_EVENTS.roundStarted).map((s) => s.payload as DashboardOpenRound);
      expect(started.map((o) => [o.round, o.attempt, o.selected])).toEqual([
        [1, 1, CLIENTS],
        [2, 1, CLIENTS],
      ]);
      // Some client list it got named all nine, on their nodes.
      const lists = seen.filter((s) => s.event === DASHBOARD_EVENTS.clients).map((s) => s.payload as DashboardClient[]);
      expect(lists.some((l) => l.length === CLIENTS && new Set(l.map((c) => c.node)).size === 3)).toBe(true);
    } finally {
      for (const d of dashboards) d.close();
      await Promise.all(nodes.map((x) => x.close()));
    }
  }, 240_000);

  test('a join token made on one node admits on every node; a client that used it is recognised on another node; revoking on any node ends it', async () => {
    // No round starts (50 clients needed): only admission is exercised.
    const waiting: CoordinatorConfig['run'] = { ...run, selection: { ...run.selection, minAvailable: 50 } };
    const named = new Redis(redis.url);
    await named.set('fedlink:tokens:run', 'run_token_test');
    named.disconnect();
    const nodes: RunningClusterNode[] = [];
    for (let n = 0; n < 2; n++) {
      nodes.push(await startClusterNode({ coordinator: { ...coordinatorConfig(join(dir, `tok${n}`)), run: waiting }, redisUrl: redis.url, database: postgres.url, cluster: 'tokens', nodeId: `t${n}`, log: silentLog }));
    }
    const [a, b] = nodes as [RunningClusterNode, RunningClusterNode];
    const opened: RawClient[] = [];
    const hello = async (node: RunningClusterNode, token: string, identity: Identity) => {
      const c = await RawClient.connect(node.coordinator.url, identity);
      opened.push(c);
      const r = await c.request(EVENTS.hello, await c.signedHello(token));
      if (r.ok) return { code: 'ok', message: '', client: c };
      await waitFor(() => c.disconnected, 'the refused socket to be closed');
      return { code: r.error.code, message: r.error.message, client: c };
    };
    const admin = (node: RunningClusterNode, path: string, init: RequestInit = {}) =>
      fetch(`${node.coordinator.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${node.coordinator.adminToken}` } });
    try {
      // Made against node a (its admin API), one client may use it.
      const res = await admin(a, '/api/tokens', { method: 'POST', body: JSON.stringify({ uses: 1, label: 'cluster-wide' }) });
      expect(res.status).toBe(201);
      const made = (await res.json()) as { token: string; id: string };

      // Accepted by node b.
      const x = generateIdentity();
      const first = await hello(b, made.token, x);
      expect(first.code).toBe('ok');
      await waitFor(() => b.coordinator.registry.ids().includes(clientIdOf(x.signPublicKey)), 'x joined on b');
      // Its one use is taken cluster-wide: another client is refused on node a.
      const other = await hello(a, made.token, generateIdentity());
      expect(other.code).toBe('unauthorized');
      expect(other.message).toMatch(/already used by its 1 allowed client/);

      // x reconnects to node a: recognised by its key, not a second use.
      first.client.close();
      await waitFor(() => b.coordinator.registry.size === 0, 'x left b');
      const back = await hello(a, made.token, x);
      expect(back.code).toBe('ok');
      // Node b lists it with its one use.
      const listed = (await (await admin(b, '/api/tokens')).json()) as { tokens: { id: string; uses: number; state: string; label: string }[] };
      expect(listed.tokens).toEqual([expect.objectContaining({ id: made.id, uses: 1, state: 'used up', label: 'cluster-wide' })]);

      // Revoked on node b: node a admits nobody with it, x included.
      expect((await admin(b, `/api/tokens/${made.id}`, { method: 'DELETE' })).status).toBe(200);
      back.client.close();
      await waitFor(() => a.coordinator.registry.size === 0, 'x left a');
      const revoked = await hello(a, made.token, x);
      expect(revoked).toMatchObject({ code: 'unauthorized', message: expect.stringMatching(/revoked/) });
      // The static token still admits.
      expect((await hello(b, TOKEN, generateIdentity())).code).toBe('ok');

      // `fedlink token create --database` writes to the same PostgreSQL: both nodes admit with it.
      const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'token', 'create', '--database', postgres.url, '--label', 'from the cli', '--json'], { encoding: 'utf8', timeout: 60_000 });
      const cli = JSON.parse(stdout) as { token: string; id: string };
      expect((await hello(a, cli.token, generateIdentity())).code).toBe('ok');
      expect((await hello(b, cli.token, generateIdentity())).code).toBe('ok');
      const all = (await (await admin(a, '/api/tokens')).json()) as { tokens: { id: string; uses: number; label: string }[] };
      expect(all.tokens.find((t) => t.id === cli.id)).toMatchObject({ uses: 2, label: 'from the cli' });
    } finally {
      for (const c of opened) c.close();
      await Promise.all(nodes.map((x) => x.close()));
    }
  }, 120_000);

  test('a strategy that needs every update on one process is refused with ClusterStrategyError, from the flags or from the stored run', async () => {
    for (const name of ['fedmedian', 'krum', 'scaffold'] as const) {
      const refused = startClusterNode({ coordinator: { ...coordinatorConfig(join(dir, `s-${name}`)), run: { ...run, strategy: presetSpec(name) } }, redisUrl: redis.url, database: postgres.url, cluster: `strategy-${name}`, log: silentLog });
      await expect(refused).rejects.toThrow(ClusterStrategyError);
      await expect(refused).rejects.toThrow(new RegExp(`strategy ${name} needs every client's update on one process`));
    }
    // Refused before it touched Redis: no run was named for that cluster.
    const r = new Redis(redis.url);
    try {
      expect(await r.keys('fedlink:strategy-*')).toEqual([]);
      // The cluster's run is stored with fedmedian: a node started with fedavg flags joins that run, so it is refused too.
      const records = await PostgresRunRecords.open(postgres.url);
      await records.insertRun({ runId: 'run_stored_median', createdAt: Date.now(), settings: { ...run, strategy: presetSpec('fedmedian') }, status: 'running', round: 0 });
      await records.close();
      await r.set('fedlink:stored-median:run', 'run_stored_median');
      const joined = startClusterNode({ coordinator: coordinatorConfig(join(dir, 's-stored')), redisUrl: redis.url, database: postgres.url, cluster: 'stored-median', log: silentLog });
      await expect(joined).rejects.toThrow(ClusterStrategyError);
      // It never joined: no node of it is listed.
      expect(await r.hkeys('fedlink:stored-median:nodes')).toEqual([]);
      // A new cluster resumes the newest unfinished run in the database: this one must not be it for the tests after.
      const cleanup = await PostgresRunRecords.open(postgres.url);
      await cleanup.setRunStatus('run_stored_median', 'stopped');
      await cleanup.close();
    } finally {
      r.disconnect();
    }
  }, 60_000);

  test('over-selection: the attempt closes on every node when the cluster-wide count reaches the target, with exactly the updates counted by then', async () => {
    // 9 selected (fraction 0.5 -> target 5, over-selected to 9); 5 clients answer, 4 hang until the round is recorded.
    const over: RunSettings = { ...run, rounds: 1, selection: { fraction: 0.5, overSelect: 1, minFit: 5, minAvailable: CLIENTS }, roundTimeoutMs: 120_000 };
    // Its own run: a new cluster would otherwise resume the newest unfinished run in the shared database (the token test's).
    const named = new Redis(redis.url);
    await named.set('fedlink:over:run', 'run_over_selection');
    named.disconnect();
    const nodes: RunningClusterNode[] = [];
    for (let n = 0; n < 3; n++) {
      nodes.push(await startClusterNode({ coordinator: { ...coordinatorConfig(join(dir, `over${n}`)), run: over }, redisUrl: redis.url, database: postgres.url, cluster: 'over', nodeId: `o${n}`, log: silentLog }));
    }
    const r = new Redis(redis.url);
    try {
      const recorded: { round: number; status: string; reported: number; selected: number; target: number }[] = [];
      const late = deferred();
      for (const x of nodes) {
        x.on('roundEnded', (rec) => {
          recorded.push({ round: rec.round, status: rec.status, reported: rec.reported, selected: rec.selected, target: rec.target });
          late.resolve();
        });
      }
      const clients = Array.from({ length: CLIENTS }, (_, i) =>
        new FedlinkClient({ url: nodes[i % 3]!.coordinator.url, token: TOKEN, identity: generateIdentity(), trainer: new GatedTrainer(i, i < 5 ? Promise.resolve() : late.promise), platform: 'node', backend: 'test' }),
      );
      const clientEnds = clients.map((c) => c.run());
      // Recorded while four selected clients still hold their updates: the target closed it, not the deadline or the last answer.
      const ends = await Promise.all(nodes.map((x) => x.done));
      for (const e of ends) expect(e.status).toBe('finished');
      await Promise.all(clientEnds);
      expect(recorded).toEqual([{ round: 1, status: 'completed', reported: 5, selected: CLIENTS, target: 5 }]);
      const runId = nodes[0]!.runId;
      const records = await PostgresRunRecords.open(postgres.url);
      const participation = (await records.participation(runId)).filter((p) => p.outcome === 'reported');
      await records.close();
      expect(participation).toHaveLength(5);
      expect(await r.keys('fedlink:over:closed:*')).toHaveLength(1);
      const [ledger] = await r.keys('fedlink:over:ledger:*');
      expect(await r.scard(ledger!)).toBe(5);
    } finally {
      r.disconnect();
      await Promise.all(nodes.map((x) => x.close()));
    }
  }, 90_000);
});
