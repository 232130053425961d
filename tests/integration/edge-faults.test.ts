import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FedlinkClient } from '@fedlink/client';
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
  const root = await startTestCoordinator({ rounds: 3, selection: everyone(2) });
  const ended: RoundRecord[] = [];
  root.engine.on('roundEnded', (r) => ended.push(r));
  const stable = await startTestEdge(root, { selection: everyone(3) }, { name: 'stable' });
  const stateDir = await mkdtemp(join(tmpdir(), 'fedlink-edge-kill-'));
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
      [1, 'completed', 2, 6],
      [2, 'completed', 2, 3],
      [3, 'completed', 2, 6],
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
