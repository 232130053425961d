import { fileURLToPath } from 'node:url';
import { FedlinkClient } from '@fedlink/client';
import type { Welcome } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { startTestEdge } from '../helpers/edge.js';

// An edge follows a parent started with its own model (--model path/model.json): it builds the
// model from the welcome's topology and serves that topology, and the parent's hash, downstream.

const FIXTURE = fileURLToPath(new URL('../fixtures/models/conv-bn-dropout/model.json', import.meta.url));
const EXAMPLES = [30, 70];

test("an edge serves its parent's own model (conv-bn-dropout) to its clients: same topology and hash, and the tree's FedAvg", async () => {
  const rounds = 2;
  const root = await startTestCoordinator({ model: FIXTURE, rounds, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } });
  const edge = await startTestEdge(root, { selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } }, { name: 'own-model-edge' });
  const clients: FedlinkClient[] = [];
  try {
    const at = await edge.ready;
    // The edge's model is the parent's: its topology verbatim, its manifest, its hash.
    expect(root.context.model.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(at.context.model.hash).toBe(root.context.model.hash);
    expect(at.context.model.topology).toEqual(root.context.model.topology);
    expect(at.context.model.manifest).toEqual(root.context.model.manifest);
    const initial = root.context.model.weights.slice();
    const welcomes: Welcome[] = [];
    const trainers = EXAMPLES.map((n, i) => new FixedDeltaTrainer(n, (round, len) => testVector(len, 101 * (i + 1) + round, 0.01)));
    for (const [i, trainer] of trainers.entries()) {
      // The leaves check the welcome's hash against its topology before they train (FedlinkClient does).
      const c = new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: at.fingerprint, name: `leaf${i}` });
      c.on('welcome', (w) => welcomes.push(w));
      clients.push(c);
    }
    const runs = clients.map((c) => c.run());
    expect((await root.done).status).toBe('finished');
    await Promise.all(runs);
    expect(welcomes.map((w) => [w.model.name, w.model.hash])).toEqual(EXAMPLES.map(() => [FIXTURE, root.context.model.hash]));
    for (const w of welcomes) expect(w.model.topology).toEqual(root.context.model.topology);
    // The root's weights: FedAvg of the two leaves, round after round (float32 steps, as the tree applies them).
    const n = initial.length;
    let w = initial;
    for (let r = 1; r <= rounds; r++) {
      const deltas = EXAMPLES.map((_, i) => testVector(n, 101 * (i + 1) + r, 0.01));
      const total = EXAMPLES[0]! + EXAMPLES[1]!;
      w = Float32Array.from(w, (x, j) => x + (EXAMPLES[0]! * deltas[0]![j]! + EXAMPLES[1]! * deltas[1]![j]!) / total);
    }
    let diff = 0;
    for (let j = 0; j < n; j++) diff = Math.max(diff, Math.abs(root.context.model.weights[j]! - w[j]!));
    expect(diff).toBeLessThanOrEqual(1e-6);
    expect(root.store.rounds.map((r) => [r.status, r.reported])).toEqual(Array(rounds).fill(['completed', 2]));
  } finally {
    for (const c of clients) c.stop();
    await edge.cleanup();
    await root.cleanup();
  }
});
