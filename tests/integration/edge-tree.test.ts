import { io } from 'socket.io-client';
import { FedlinkClient } from '@fedlink/client';
import { DashboardFeed } from '@fedlink/coordinator';
import { presetSpec } from '@fedlink/core';
import { DASHBOARD_EVENTS, type DashboardClient, type DashboardSnapshot } from '@fedlink/protocol';
import { FixedDeltaTrainer, deferred, testVector } from '../helpers/fixed-trainer.js';
import { type Identity, clientIdOf, generateIdentity } from '@fedlink/crypto';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { startTestEdge } from '../helpers/edge.js';

// The cloud/edge tree: FedAvg over edges that each report their group's mean delta, example total
// and contributor count must give the flat FedAvg of the same clients, round after round.

const ROUNDS = 3;
const EXAMPLES = [100, 250, 40, 300, 75, 500, 20, 160, 90];
const TOTAL = EXAMPLES.reduce((a, b) => a + b, 0);

/** Leaf i's trainer: its own known delta each round. */
const leafTrainer = (i: number) => new FixedDeltaTrainer(EXAMPLES[i]!, (round, n) => testVector(n, 7919 * (i + 1) + round, 0.02));

type Where = { url: string; fingerprint: string };

function joinLeaves(at: Where, leaves: number[]): { trainers: FixedDeltaTrainer[]; runs: Promise<unknown>[] } {
  const trainers = leaves.map(leafTrainer);
  const runs = trainers.map((trainer, k) =>
    new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: at.fingerprint, name: `leaf${leaves[k]}` }).run(),
  );
  return { trainers, runs };
}

const everyone = (n: number) => ({ fraction: 1, minFit: n, minAvailable: n, overSelect: 0 });

/** The root's rounds as /api/rounds shows them: status, reported (leaf contributors), examples. */
async function roundsOf(url: string): Promise<[string, number, number][]> {
  const body = (await (await fetch(`${url}/api/rounds`)).json()) as { rounds: { status: string; reported: number; totalExamples: number }[] };
  return body.rounds.map((r) => [r.status, r.reported, r.totalExamples]);
}

async function flatRun(): Promise<{ weights: Float32Array; globals: Float32Array[] }> {
  const root = await startTestCoordinator({ rounds: ROUNDS, selection: everyone(9) });
  try {
    const { trainers, runs } = joinLeaves(root, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await root.done).status).toBe('finished');
    await Promise.all(runs);
    expect(await roundsOf(root.url)).toEqual(Array(ROUNDS).fill(['completed', 9, TOTAL]));
    return { weights: root.context.model.weights.slice(), globals: trainers[0]!.seenGlobals };
  } finally {
    await root.cleanup();
  }
}

let flat: { weights: Float32Array; globals: Float32Array[] };

beforeAll(async () => {
  flat = await flatRun();
});

test('a two-level tree (root, 3 edges, 9 leaves) gives the flat FedAvg weights; the root counts leaf contributors', async () => {
  // The root's selection counts leaves (delegated selection): it waits for the 9 its edges report.
  const root = await startTestCoordinator({ rounds: ROUNDS, selection: everyone(9) });
  const reports: [number, number, number][] = [];
  const edges = await Promise.all(
    [0, 1, 2].map((e) => startTestEdge(root, { selection: everyone(3) }, { name: `edge${e}`, onRound: (round, o) => 'contributors' in o && reports.push([round, o.contributors!, o.numExamples]) })),
  );
  try {
    // Before any leaf joined (no round can start yet): /api/status and /metrics say which clients are edges, by id.
    await Promise.all(edges.map((e) => e.ready));
    // Each edge's first summary (once its coordinator listens) carries its dashboard's URL.
    await until(async () => root.registry.sessions().every((s) => s.edgeSummary?.dashboardUrl !== undefined));
    const status = (await (await fetch(`${root.url}/api/status`)).json()) as { clients: DashboardClient[] };
    expect(status.clients.map((c) => [c.name, c.edge]).sort()).toEqual([['edge0', true], ['edge1', true], ['edge2', true]]);
    const metrics = await (await fetch(`${root.url}/metrics`)).text();
    expect(metrics).toMatch(/^fedlink_edges_connected\{run_id="run_\w+"\} 3$/m);
    for (const c of status.clients) expect(metrics).toContain(`fedlink_edge_clients{edge_id="${c.clientId}",edge_name="${c.name}",run_id="${root.runId}"} 0`);
    // With no leaf behind them yet, the root waits: each edge idle, no group, 0 clients reported, its dashboard linked.
    const dash = io(`${root.url}/dashboard`, { transports: ['websocket'], reconnection: false, forceNew: true });
    const live = await new Promise<DashboardSnapshot>((resolve) => dash.once(DASHBOARD_EVENTS.snapshot, resolve)).finally(() => dash.close());
    const ready = await Promise.all(edges.map((e) => e.ready));
    expect(live.clients.map((c) => [c.name, c.edge, c.edgeStatus]).sort()).toEqual(
      ['edge0', 'edge1', 'edge2'].map((name, e) => [name, true, { state: 'idle', lastRound: null, clients: 0, examples: 0, dashboardUrl: ready[e]!.url }]),
    );
    // The feed's snapshot the moment each root round is recorded: every edge's group of that round.
    const feed = new DashboardFeed({ run: root.context, state: root.engine.state, events: root.engine, registry: root.registry, rounds: () => root.store.rounds, participation: (id) => root.engine.participation(id) }, () => {});
    const atRoundEnd: DashboardSnapshot[] = [];
    root.engine.on('roundEnded', () => atRoundEnd.push(feed.snapshot()));
    const leaves = await Promise.all(edges.map(async (edge, e) => joinLeaves(await edge.ready, [3 * e, 3 * e + 1, 3 * e + 2])));
    expect((await root.done).status).toBe('finished');
    await Promise.all(edges.map((e) => e.done));
    await Promise.all(leaves.flatMap((l) => l.runs));

    expect(maxAbsDiff(root.context.model.weights, flat.weights)).toBeLessThanOrEqual(1e-5);
    // Each leaf trained every round from the same global model as in the flat run.
    for (let r = 0; r < ROUNDS; r++) expect(maxAbsDiff(leaves[0]!.trainers[0]!.seenGlobals[r]!, flat.globals[r]!)).toBeLessThanOrEqual(1e-5);
    expect(await roundsOf(root.url)).toEqual(Array(ROUNDS).fill(['completed', 9, TOTAL]));
    // Each edge reported one group per round: its 3 leaves and their examples.
    const groupExamples = [0, 1, 2].map((e) => EXAMPLES[3 * e]! + EXAMPLES[3 * e + 1]! + EXAMPLES[3 * e + 2]!);
    expect(reports.map(([, c, n]) => [c, n]).sort()).toEqual(Array.from({ length: ROUNDS }, () => groupExamples.map((n) => [3, n])).flat().sort());
    // The root's dashboard: each edge marked, idle between rounds, with its last group's leaf clients, examples and bytes in.
    feed.close();
    expect(atRoundEnd).toHaveLength(ROUNDS);
    atRoundEnd.forEach((snap, i) => {
      const edgeRows = [...snap.clients].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
      expect(edgeRows.map((c) => [c.name, c.edge, c.edgeStatus?.state, c.edgeStatus?.lastRound?.round, c.edgeStatus?.lastRound?.attempt, c.edgeStatus?.lastRound?.contributors, c.edgeStatus?.lastRound?.numExamples])).toEqual(
        [0, 1, 2].map((e) => [`edge${e}`, true, 'idle', i + 1, 1, 3, groupExamples[e]]),
      );
      const record = snap.rounds.at(-1)!;
      expect(record).toMatchObject({ round: i + 1, status: 'completed', reported: 9 });
      expect(edgeRows.every((c) => c.edgeStatus!.lastRound!.bytesIn > 0)).toBe(true);
      expect(edgeRows.reduce((a, c) => a + c.edgeStatus!.lastRound!.bytesIn, 0)).toBe(record.bytesIn);
    });
    // The edges' own records: one completed local round per parent round, with their 3 leaves.
    for (const edge of edges) {
      const coord = await edge.ready;
      expect(coord.store.rounds.map((r) => [r.round, r.status, r.reported])).toEqual([1, 2, 3].map((r) => [r, 'completed', 3]));
    }
  } finally {
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
});

test('a three-level tree (an edge of edges) gives the flat FedAvg weights too', async () => {
  const root = await startTestCoordinator({ rounds: ROUNDS, selection: everyone(9) });
  const direct = await startTestEdge(root, { selection: everyone(3) }, { name: 'direct' });
  const middle = await startTestEdge(root, { selection: everyone(6) }, { name: 'middle' });
  const lower: Awaited<ReturnType<typeof startTestEdge>>[] = [];
  try {
    const mid = await middle.ready;
    lower.push(...(await Promise.all([0, 1].map((k) => startTestEdge(mid, { selection: everyone(3) }, { name: `lower${k}` })))));
    const leaves = [joinLeaves(await direct.ready, [0, 1, 2]), joinLeaves(await lower[0]!.ready, [3, 4, 5]), joinLeaves(await lower[1]!.ready, [6, 7, 8])];
    expect((await root.done).status).toBe('finished');
    await Promise.all([direct, middle, ...lower].map((e) => e.done));
    await Promise.all(leaves.flatMap((l) => l.runs));

    expect(maxAbsDiff(root.context.model.weights, flat.weights)).toBeLessThanOrEqual(1e-5);
    expect(await roundsOf(root.url)).toEqual(Array(ROUNDS).fill(['completed', 9, TOTAL]));
    // The middle edge counts the leaves behind its two edges, not the edges.
    expect(mid.store.rounds.map((r) => [r.status, r.reported, r.totalExamples])).toEqual(Array(ROUNDS).fill(['completed', 6, EXAMPLES.slice(3).reduce((a, b) => a + b, 0)]));
  } finally {
    await Promise.all([...lower, direct, middle].map((e) => e.cleanup()));
    await root.cleanup();
  }
});

/** Polls `cond` until it holds; fails after `ms`. */
async function until(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition did not hold in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('SecAgg+ between leaves and their edge: the root gets the flat FedAvg within the quantisation bound, no edge opens an update', async () => {
  const root = await startTestCoordinator({ rounds: ROUNDS, selection: everyone(9) });
  const secure = { secureAggregation: true, secaggStageTimeoutMs: 20_000, selection: everyone(3) };
  const edges = await Promise.all([0, 1, 2].map((e) => startTestEdge(root, secure, { name: `secure${e}` })));
  try {
    const leaves = await Promise.all(edges.map(async (edge, e) => joinLeaves(await edge.ready, [3 * e, 3 * e + 1, 3 * e + 2])));
    expect((await root.done).status).toBe('finished');
    await Promise.all(edges.map((e) => e.done));
    await Promise.all(leaves.flatMap((l) => l.runs));
    // Quantisation of each group's masked sum (docs/SECURITY.md: m*C/(2^31-1-m), C = 1), far below this.
    expect(maxAbsDiff(root.context.model.weights, flat.weights)).toBeLessThan(1e-6);
    expect(await roundsOf(root.url)).toEqual(Array(ROUNDS).fill(['completed', 9, TOTAL]));
    for (const edge of edges) expect((await edge.ready).engine.plaintextUpdatesOpened).toBe(0);
    // What the root opened: one sealed group update per edge and round.
    expect(root.engine.plaintextUpdatesOpened).toBe(3 * ROUNDS);
    // SecAgg+ carries no individual loss: the edges report none, so the root records none (not 0).
    expect(root.store.rounds.map((r) => r.trainLoss)).toEqual(Array(ROUNDS).fill(undefined));
  } finally {
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
});

test('edges running a robust aggregator (median) over their groups: the root takes the example-weighted mean of the groups\' medians', async () => {
  const root = await startTestCoordinator({ rounds: 1, selection: everyone(6) });
  const median = { ...presetSpec('fedavg'), name: 'edge-median', aggregator: { kind: 'median' as const } };
  const edges = await Promise.all([0, 1].map((e) => startTestEdge(root, { strategy: median, selection: everyone(3) }, { name: `edge${e}` })));
  try {
    const groups = [[0, 1, 2], [3, 4, 5]];
    const leaves = await Promise.all(edges.map(async (edge, e) => joinLeaves(await edge.ready, groups[e]!)));
    expect((await root.done).status).toBe('finished');
    await Promise.all(leaves.flatMap((l) => l.runs));
    // Independently: each group's coordinate-wise median of its leaves' round-1 deltas, weighted by the group's examples.
    const global = leaves[0]!.trainers[0]!.seenGlobals[0]!;
    const n = global.length;
    const deltas = groups.map((g) => g.map((i) => testVector(n, 7919 * (i + 1) + 1, 0.02)));
    const examples = groups.map((g) => g.reduce((a, i) => a + EXAMPLES[i]!, 0));
    const expected = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let sum = 0;
      groups.forEach((_, e) => {
        const column = deltas[e]!.map((d) => d[j]!).sort((a, b) => a - b);
        sum += examples[e]! * column[1]!;
      });
      expected[j] = global[j]! + sum / (examples[0]! + examples[1]!);
    }
    expect(maxAbsDiff(root.context.model.weights, expected)).toBeLessThanOrEqual(1e-6);
    // Not the mean: the tree's result differs from FedAvg of the same leaves.
    const mean = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let sum = 0;
      groups.forEach((g, e) => g.forEach((i, k) => (sum += EXAMPLES[i]! * deltas[e]![k]![j]!)));
      mean[j] = global[j]! + sum / (examples[0]! + examples[1]!);
    }
    expect(maxAbsDiff(root.context.model.weights, mean)).toBeGreaterThan(1e-3);
    expect(await roundsOf(root.url)).toEqual([['completed', 6, examples[0]! + examples[1]!]]);
  } finally {
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
});

test('a device that moves to another edge mid-run is the same client there (its key), counted once per round', async () => {
  // edge0 selects whoever is connected (one at least), edge1 waits for two: round 1 is the mover
  // alone at edge0 and leaves 2, 3 at edge1 (held training until the mover has moved, so edge1's
  // round 1 is still open when it arrives there); round 2 is leaf 0 at edge0 and 2, 3 and the mover at edge1.
  // The root waits for 3 leaves (round 1), and closes with 2 at least.
  const root = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 2, minAvailable: 3, overSelect: 0 } });
  const edges = [
    await startTestEdge(root, { selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } }, { name: 'edge0' }),
    await startTestEdge(root, { selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } }, { name: 'edge1' }),
  ];
  const clients: FedlinkClient[] = [];
  const join = (at: Where, trainer: FixedDeltaTrainer, name: string, identity?: Identity) => {
    const c = new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: at.fingerprint, name, ...(identity ? { identity } : {}) });
    clients.push(c);
    return c.run().catch(() => undefined);
  };
  try {
    const [at0, at1] = await Promise.all(edges.map((e) => e.ready));
    const identity = generateIdentity();
    const moverId = clientIdOf(identity.signPublicKey);
    const mover = leafTrainer(1);
    const held = deferred();
    const [t2, t3] = [2, 3].map((i) => new FixedDeltaTrainer(EXAMPLES[i]!, (round, n) => testVector(n, 7919 * (i + 1) + round, 0.02), () => held.promise));
    const runs = [join(at0!, mover, 'mover', identity), join(at1!, t2!, 'leaf2'), join(at1!, t3!, 'leaf3')];
    // The mover's round-1 update is in at edge0 and edge1's round 1 is training 2 and 3: the mover
    // leaves edge0 and joins edge1 with the same key.
    await until(async () => at0!.store.rounds.length === 1 && t2!.seenGlobals.length === 1 && t3!.seenGlobals.length === 1);
    expect(at0!.store.rounds[0]).toMatchObject({ status: 'completed', reported: 1 });
    clients[0]!.stop();
    await runs[0];
    const leaf0 = leafTrainer(0);
    runs.push(join(at1!, mover, 'mover', identity), join(at0!, leaf0, 'leaf0'));
    await until(async () => at1!.registry.get(moverId) !== undefined && at0!.registry.get(moverId) === undefined && at0!.registry.size === 1);
    // At edge1 the mover is the client its key names: the id edge0 knew, with the name it gave.
    expect(at1!.registry.get(moverId)?.name).toBe('mover');
    expect(at1!.registry.size).toBe(3);
    // The root plans round 2 on what the edges reported: 1 leaf at edge0, 3 at edge1.
    const reported = (name: string) => root.registry.sessions().find((s) => s.name === name)?.edgeSummary?.clients;
    await until(async () => reported('edge0') === 1 && reported('edge1') === 3);
    held.resolve();
    expect((await root.done).status).toBe('finished');
    await Promise.all(edges.map((e) => e.done));
    // Round 1: the mover once (at edge0; edge1's round was planned before it arrived), round 2: all four.
    expect((await roundsOf(root.url)).map(([st, reported]) => [st, reported])).toEqual([['completed', 3], ['completed', 4]]);
    expect(at1!.store.rounds.map((r) => [r.round, r.status, r.reported])).toEqual([[1, 'completed', 2], [2, 'completed', 3]]);
    expect(at0!.store.rounds.map((r) => [r.round, r.status, r.reported])).toEqual([[1, 'completed', 1], [2, 'completed', 1]]);
    // The root's weights: FedAvg of exactly who counted, each once (the mover's second fit is its round 2).
    const g0 = mover.seenGlobals[0]!;
    const n = g0.length;
    const step = (w: Float32Array, parts: [number, Float32Array][]) => {
      const total = parts.reduce((a, [m]) => a + m, 0);
      return Float32Array.from(w, (x, j) => x + parts.reduce((a, [m, d]) => a + m * d[j]!, 0) / total);
    };
    const d = (i: number, round: number) => testVector(n, 7919 * (i + 1) + round, 0.02);
    const w1 = step(g0, [[EXAMPLES[1]!, d(1, 1)], [EXAMPLES[2]!, d(2, 1)], [EXAMPLES[3]!, d(3, 1)]]);
    const w2 = step(w1, [[EXAMPLES[0]!, d(0, 1)], [EXAMPLES[1]!, d(1, 2)], [EXAMPLES[2]!, d(2, 2)], [EXAMPLES[3]!, d(3, 2)]]);
    expect(maxAbsDiff(mover.seenGlobals[1]!, w1)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(root.context.model.weights, w2)).toBeLessThanOrEqual(1e-5);
    await Promise.all(runs);
  } finally {
    for (const c of clients) c.stop();
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
});

describe('refusals', () => {
  test('a parent running SCAFFOLD refuses an edge, and says SCAFFOLD cannot run over a tree', async () => {
    const root = await startTestCoordinator({ rounds: 1, strategy: presetSpec('scaffold'), selection: everyone(1) });
    const edge = await startTestEdge(root, { selection: everyone(1) });
    try {
      await expect(edge.ready).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(/strategy scaffold .*keeps SCAFFOLD control variates.*can't be exact over a tree, at the parent or at an edge \(run it without edges\)/) });
    } finally {
      await edge.cleanup();
      await root.cleanup();
    }
  });

  test('an edge refuses a strategy it cannot run over its group (a server optimizer, SCAFFOLD, q-FedAvg)', async () => {
    const parent = { url: 'http://127.0.0.1:9', fingerprint: 'none' };
    await expect(startTestEdge(parent, { strategy: presetSpec('fedadam'), selection: everyone(1) })).rejects.toThrow(/edge: strategy fedadam .*has a server optimizer \(adam, lr 0.01\); the parent's optimizer steps the model/);
    await expect(startTestEdge(parent, { strategy: presetSpec('scaffold'), selection: everyone(1) })).rejects.toThrow(/edge: strategy scaffold .*SCAFFOLD control variates/);
    await expect(startTestEdge(parent, { strategy: presetSpec('qfedavg'), selection: everyone(1) })).rejects.toThrow(/edge: aggregator qfedavg can't run at an edge/);
  });

  test("a parent whose strategy needs each client's update refuses an edge at hello, with the reason", async () => {
    const root = await startTestCoordinator({ rounds: 1, strategy: presetSpec('fedmedian'), selection: everyone(1) });
    const edge = await startTestEdge(root, { selection: everyone(1) });
    try {
      await expect(edge.ready).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(/edge aggregators can't join this run: strategy fedmedian .*needs each client's update/) });
      expect(root.registry.size).toBe(0);
    } finally {
      await edge.cleanup();
      await root.cleanup();
    }
  });

  test('a parent running secure aggregation refuses an edge (SecAgg+ runs between leaves and their edge)', async () => {
    const root = await startTestCoordinator({ rounds: 1, secureAggregation: true, selection: everyone(2) });
    const edge = await startTestEdge(root, { selection: everyone(1) });
    try {
      await expect(edge.ready).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(/SecAgg\+ between a parent and its edges is not supported/) });
    } finally {
      await edge.cleanup();
      await root.cleanup();
    }
  });

  test('an ordinary client may not send an update of several contributors', async () => {
    const root = await startTestCoordinator({ rounds: 1, maxAbandonedAttempts: 1, selection: everyone(1) });
    const trainer = leafTrainer(0);
    const fit = trainer.fit.bind(trainer);
    trainer.fit = async (global, config) => ({ ...(await fit(global, config)), contributors: 5 });
    const client = new FedlinkClient({ url: root.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: root.fingerprint });
    const rejected: string[] = [];
    client.on('rejected', (_round, e) => rejected.push(`${e.code}: ${e.message}`));
    try {
      const run = client.run();
      expect((await root.done).status).toBe('stopped');
      await run;
      expect(rejected).toEqual(['bad_request: only an edge aggregator (hello role edge) may send an update of several contributors']);
      expect(root.store.rounds.map((r) => [r.status, r.reported])).toEqual([['abandoned', 0]]);
    } finally {
      client.stop();
      await root.cleanup();
    }
  });
});
