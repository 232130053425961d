import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as join_ } from 'node:path';
import { FedlinkClient, type Trainer } from '@fedlink/client';
import type { RoundRecord } from '@fedlink/coordinator';
import { FixedDeltaTrainer, deferred, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { startTestEdge } from '../helpers/edge.js';
import { type Proc, freePort, spawnFedlink } from '../helpers/processes.js';

// An edge is a dropped group when it dies mid-round: the parent's round completes with the other
// edges' leaves; the edge restarted on its state dir (same key, same port) rejoins, and its
// clients, which reconnect by themselves, count again from the next round.

const EXAMPLES = [100, 250, 40, 300, 75, 500];
const deltaOf = (i: number, round: number, n: number) => testVector(n, 7919 * (i + 1) + round, 0.02);
const everyone = (n: number) => ({ fraction: 1, minFit: n, minAvailable: n, overSelect: 0 });

test('SIGKILL an edge process mid-round: the round completes without its group; restarted, its clients count again', async () => {
  // Leaves: the root waits for all 6 its edges report, and completes a round with 3.
  const root = await startTestCoordinator({ rounds: 3, selection: { fraction: 1, minFit: 3, minAvailable: 6, overSelect: 0 } });
  const ended: RoundRecord[] = [];
  root.engine.on('roundEnded', (r) => ended.push(r));
  const stable = await startTestEdge(root, { selection: everyone(3) }, { name: 'stable' });
  const stateDir = await mkdtemp(join_(tmpdir(), 'fedlink-edge-kill-'));
  const port = await freePort();
  const edgeArgs = [
    'edge', '--upstream', root.url, '--token', TEST_TOKEN, '--server-key', root.fingerprint, '--port', String(port), '--state-dir', stateDir,
    '--client-token', TEST_TOKEN, '--min-fit', '3', '--over-select', '0', '--name', 'killed', '--log-level', 'warn', '--round-timeout', '2m', '--wait-timeout', '2m',
  ];
  let edge: Proc = spawnFedlink(edgeArgs);
  const clients: FedlinkClient[] = [];
  try {
    const fingerprint = (await edge.waitFor(/fingerprint {2}(\S+)/))[1]!;
    // The killed edge's leaves (3, 4, 5) hold their round-2 training until the edge is dead.
    const release = deferred();
    const held = deferred();
    let holding = 0;
    const join = (i: number, at: { url: string; fingerprint: string }) => {
      const trainer: FixedDeltaTrainer = new FixedDeltaTrainer(EXAMPLES[i]!, (round, n) => deltaOf(i, round, n), async () => {
        if (i < 3 || trainer.seenGlobals.length !== 2) return;
        if (++holding === 3) held.resolve();
        await release.promise;
      });
      const client = new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: at.fingerprint, name: `leaf${i}` });
      clients.push(client);
      return { trainer, run: client.run() };
    };
    const stableAt = await stable.ready;
    const leaves = [0, 1, 2].map((i) => join(i, stableAt)).concat([3, 4, 5].map((i) => join(i, { url: `http://127.0.0.1:${port}`, fingerprint })));
    const initial = root.context.model.weights.slice();

    await held.promise;
    edge.kill('SIGKILL');
    await edge.exited;
    // Round 2 closes once the dead edge dropped and the stable one reported: its 3 leaves only.
    while (ended.length < 2) await new Promise((r) => root.engine.once('roundEnded', r));
    release.resolve();
    edge = spawnFedlink(edgeArgs);
    await edge.waitFor(/fingerprint {2}(\S+)/);

    expect((await root.done).status).toBe('finished');
    await Promise.all(leaves.map((l) => l.run));
    expect(ended.map((r) => [r.round, r.status, r.selected, r.reported])).toEqual([
      [1, 'completed', 6, 6],
      [2, 'completed', 6, 3],
      [3, 'completed', 6, 6],
    ]);
    // The weights are FedAvg of who counted: all 6 leaves in rounds 1 and 3, the stable edge's 3 in round 2.
    const n = initial.length;
    const expected = Float64Array.from(initial);
    for (const [round, who] of [[1, [0, 1, 2, 3, 4, 5]], [2, [0, 1, 2]], [3, [0, 1, 2, 3, 4, 5]]] as [number, number[]][]) {
      const total = who.reduce((s, i) => s + EXAMPLES[i]!, 0);
      // Leaves 3-5 trained round 2 but never delivered it; in round 3 they send their third delta.
      const deltas = who.map((i) => deltaOf(i, round, n));
      for (let j = 0; j < n; j++) {
        let s = 0;
        who.forEach((i, k) => (s += EXAMPLES[i]! * deltas[k]![j]!));
        expected[j] = Math.fround(expected[j]! + s / total);
      }
    }
    let diff = 0;
    for (let j = 0; j < n; j++) diff = Math.max(diff, Math.abs(root.context.model.weights[j]! - expected[j]!));
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(await edge.exit()).toBe(0);
    expect(edge.stdout).toMatch(/round 3: reported 3 client\(s\), 875 examples to the parent/);
  } finally {
    for (const c of clients) c.stop();
    edge.kill('SIGKILL');
    await stable.cleanup();
    await root.cleanup();
    await rm(stateDir, { recursive: true, force: true });
  }
}, 180_000);

/** A leaf that pulls the global weights a tenth of the way to a target of its own, on a 2^-16 grid (sums are exact in any order). */
function pullTrainer(i: number, hold?: { round: number; until: Promise<void>; onHeld: () => void }): Trainer {
  let numParams = 0;
  let held = false;
  return {
    numExamples: 40 + 10 * i,
    async prepare(welcome) {
      numParams = welcome.model.numParams;
    },
    async fit(global, _config, hooks) {
      if (hold && hooks?.round?.round === hold.round && !held) {
        held = true;
        hold.onHeld();
        await hold.until;
      }
      const delta = new Float32Array(numParams);
      for (let j = 0; j < numParams; j++) delta[j] = Math.round((((j * 2654435761 + i * 40503) >>> 0) % 2001 / 10000 - 0.1 - global[j]!) * 0.1 * 65536) / 65536;
      return { delta, numExamples: 40 + 10 * i, metrics: { loss: 1 } };
    },
    dispose() {},
  };
}

test('a root restarted mid-round on its state dir is rejoined by its edges; the tree ends on the flat run\'s weights', async () => {
  const join = (i: number, at: { url: string; fingerprint: string }, hold?: Parameters<typeof pullTrainer>[1]) =>
    new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer: pullTrainer(i, hold), platform: 'node', backend: 'test', serverFingerprint: at.fingerprint });
  // The flat run of the same four leaves.
  const flatRoot = await startTestCoordinator({ rounds: 3, selection: everyone(4) });
  let flat: Float32Array;
  try {
    const runs = [0, 1, 2, 3].map((i) => join(i, flatRoot).run());
    expect((await flatRoot.done).status).toBe('finished');
    await Promise.all(runs);
    flat = flatRoot.context.model.weights.slice();
  } finally {
    await flatRoot.cleanup();
  }

  const stateDir = await mkdtemp(join_(tmpdir(), 'fedlink-root-restart-'));
  const port = await freePort();
  const startRoot = () => startTestCoordinator({ rounds: 3, selection: everyone(4) }, { stateDir, config: { port } });
  let root = await startRoot();
  const edges = await Promise.all([0, 1].map((e) => startTestEdge(root, { selection: everyone(2) }, { name: `edge${e}` })));
  const clients: FedlinkClient[] = [];
  try {
    // Every leaf holds its round-2 training until the root has restarted.
    const release = deferred();
    const held = deferred();
    let holding = 0;
    const hold = { round: 2, until: release.promise, onHeld: () => ++holding === 4 && held.resolve() };
    for (const [e, edge] of edges.entries()) for (const i of [2 * e, 2 * e + 1]) clients.push(join(i, await edge.ready, hold));
    const runs = clients.map((c) => c.run());
    await held.promise;
    await root.close({ suspend: true });
    root = await startRoot();
    expect(root.resumedFrom).toBe(1);
    release.resolve();
    expect((await root.done).status).toBe('finished');
    await Promise.all(runs);
    let diff = 0;
    for (let j = 0; j < flat.length; j++) diff = Math.max(diff, Math.abs(root.context.model.weights[j]! - flat[j]!));
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(root.store.rounds.filter((r) => r.status === 'completed').map((r) => [r.round, r.reported])).toEqual([[1, 4], [2, 4], [3, 4]]);
  } finally {
    for (const c of clients) c.stop();
    await Promise.all(edges.map((e) => e.cleanup()));
    await root.cleanup();
  }
}, 180_000);
