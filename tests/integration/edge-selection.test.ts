import { FedlinkClient, type FitHooks } from '@fedlink/client';
import type { RoundRecord } from '@fedlink/coordinator';
import { EVENTS } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { RawClient } from '../helpers/raw-client.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { startTestEdge } from '../helpers/edge.js';

// Delegated selection: edges tell their parent how many leaf clients (and examples) they hold;
// the parent splits its round's leaf target over them by those counts, sends each its share in
// round:start, and each edge selects exactly that share of its own clients.

const EXAMPLES = [10, 20, 30, 40, 50, 60, 70, 80, 90];
const GROUPS = [[0, 1], [2, 3, 4], [5, 6, 7, 8]];

test('3 edges with 2/3/4 clients and fraction 0.5: each edge selects its share (1/2/2), the round counts the 5 leaves the root asked for', async () => {
  const rounds = 2;
  // fraction 0.5 of 9 leaves: a target of 5; minAvailable 9 leaves, so the root plans once every edge reported its group.
  const root = await startTestCoordinator({ rounds, selection: { fraction: 0.5, minFit: 5, minAvailable: 9, overSelect: 0 } });
  const rootRounds: RoundRecord[] = [];
  // What the root knew of each edge when a round ended: [name, leaf clients, examples, session examples].
  const known: [string, number | undefined, number | undefined, number][][] = [];
  root.engine.on('roundEnded', (r) => {
    rootRounds.push(r);
    known.push(root.registry.sessions().map((s) => [s.name ?? '', s.edgeSummary?.clients, s.edgeSummary?.examples, s.numExamples]));
  });
  // Each edge's own fraction (1) is not what it selects by: its parent's share is.
  const edges = await Promise.all(GROUPS.map((g, e) => startTestEdge(root, { selection: { fraction: 1, minFit: 1, minAvailable: g.length, overSelect: 0 } }, { name: `edge${e}` })));
  const clients: FedlinkClient[] = [];
  try {
    const at = await Promise.all(edges.map((e) => e.ready));
    const trainedRounds: number[][] = EXAMPLES.map(() => []);
    const trainers = GROUPS.map((g) => g.map((i) => {
      const t = new FixedDeltaTrainer(EXAMPLES[i]!, (round, n) => testVector(n, 31 * (i + 1) + round, 0.01));
      const fit = t.fit.bind(t);
      t.fit = async (global, config, hooks?: FitHooks) => {
        trainedRounds[i]!.push(hooks!.round!.round);
        return fit(global, config);
      };
      return t;
    }));
    GROUPS.forEach((g, e) => g.forEach((i, k) => clients.push(new FedlinkClient({ url: at[e]!.url, token: TEST_TOKEN, trainer: trainers[e]![k]!, platform: 'node', backend: 'test', serverFingerprint: at[e]!.fingerprint, name: `leaf${i}` }))));
    const runs = clients.map((c) => c.run());
    expect((await root.done).status).toBe('finished');
    await Promise.all(edges.map((e) => e.done));
    await Promise.all(runs);

    // The root's records count leaves: it asked for 5 (target 5) and 5 contributed.
    expect(rootRounds.map((r) => [r.status, r.selected, r.target, r.reported])).toEqual(Array(rounds).fill(['completed', 5, 5, 5]));
    // Largest remainder over 2/3/4 leaves: 1, 2 and 2; each edge selected exactly its share and all of it reported.
    for (const [e, share] of [1, 2, 2].entries()) {
      expect(at[e]!.store.rounds.map((r) => [r.status, r.selected, r.target, r.reported])).toEqual(Array(rounds).fill(['completed', share, share, share]));
    }
    // The root's examples are exactly those of the leaves that trained each round (5 of them).
    for (let r = 1; r <= rounds; r++) {
      const trained = GROUPS.flat().filter((i) => trainedRounds[i]!.includes(r));
      expect(trained).toHaveLength(5);
      expect(rootRounds[r - 1]!.totalExamples).toBe(trained.reduce((a, i) => a + EXAMPLES[i]!, 0));
    }
    // What the edges told the root: their leaf clients and examples (the session's examples are the group's).
    const told = GROUPS.map((g, e) => {
      const examples = g.reduce((a, i) => a + EXAMPLES[i]!, 0);
      return [`edge${e}`, g.length, examples, examples];
    });
    for (const k of known) expect([...k].sort()).toEqual(told);
  } finally {
    for (const c of clients) c.stop();
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
});

test('edge summaries are validated at the boundary; a raw edge is sent its share in round:start', async () => {
  const root = await startTestCoordinator({ rounds: 1, selection: { fraction: 0.5, minFit: 1, minAvailable: 4, overSelect: 0 } });
  const raws: RawClient[] = [];
  try {
    const edge = await RawClient.connect(root.url);
    raws.push(edge);
    // The hello says the edge holds 4 leaf clients with 40 examples: the root's 4 leaves, so it plans round 1.
    await edge.join(TEST_TOKEN, { role: 'edge', numExamples: 40, edge: { clients: 4, examples: 40 } });
    const start = await edge.nextRoundStart();
    expect(start.share).toBe(2);
    expect(root.registry.sessions().map((s) => [s.edge, s.edgeSummary, s.numExamples])).toEqual([[true, { clients: 4, examples: 40 }, 40]]);
    // A dashboard link must be http(s); a summary of the wrong shape is a bad_request naming the field.
    const bad = await edge.request(EVENTS.edgeSummary, { clients: 4, examples: 40, dashboardUrl: 'javascript:alert(1)' });
    expect(bad).toEqual({ ok: false, error: { code: 'bad_request', message: 'malformed edge:summary: dashboardUrl: must be an http(s) URL' } });
    expect(await edge.request(EVENTS.edgeSummary, { clients: -1, examples: 0 })).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^malformed edge:summary: clients: /) } });
    expect(await edge.request(EVENTS.edgeSummary, { clients: 5, examples: 50, dashboardUrl: 'https://edge.example:7080/' })).toEqual({ ok: true });
    expect(root.registry.sessions()[0]!.edgeSummary).toEqual({ clients: 5, examples: 50, dashboardUrl: 'https://edge.example:7080/' });
    // An ordinary client may neither send a summary nor carry one in its hello.
    const plain = await RawClient.connect(root.url);
    raws.push(plain);
    await plain.join(TEST_TOKEN);
    expect(await plain.request(EVENTS.edgeSummary, { clients: 1, examples: 1 })).toEqual({ ok: false, error: { code: 'bad_request', message: 'only an edge aggregator (hello role edge) may send edge:summary' } });
    const other = await RawClient.connect(root.url);
    raws.push(other);
    const refused = await other.request(EVENTS.hello, await other.signedHello(TEST_TOKEN, { edge: { clients: 9, examples: 9 } }));
    expect(refused).toEqual({ ok: false, error: { code: 'bad_request', message: 'only an edge aggregator (hello role edge) may send an edge summary' } });
  } finally {
    for (const r of raws) r.socket.close();
    await root.cleanup();
  }
});

test('edges add no process signal listeners (ten in one process stay under the listener limit: no MaxListenersExceededWarning)', async () => {
  const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
  const root = await startTestCoordinator({ rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 20, overSelect: 0 } });
  const edges = await Promise.all(Array.from({ length: 10 }, (_, e) => startTestEdge(root, { selection: { fraction: 1, minFit: 1, minAvailable: 2, overSelect: 0 } }, { name: `edge${e}` })));
  try {
    await Promise.all(edges.map((e) => e.ready));
    // The root (a standalone coordinator) closes itself on a signal; each edge is closed by its host.
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([before.term + 1, before.int + 1]);
  } finally {
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
  expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual([before.term, before.int]);
});
