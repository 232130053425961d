import { FedlinkClient } from '@fedlink/client';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

// A real coordinator and three real clients over loopback send known deltas; the new global
// weights must equal the example-weighted mean computed here, independently.
test('FedAvg global weights equal the example-weighted mean of known deltas', async () => {
  const coord = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 3, minAvailable: 3, overSelect: 0 } });
  try {
    const initial = coord.context.model.weights.slice();
    const n = initial.length;
    const examples = [100, 300, 600];
    const deltas = [1, 2, 3].map((k) => [testVector(n, k * 11), testVector(n, k * 13, 0.05)]);
    const trainers = examples.map((count, i) => new FixedDeltaTrainer(count, (round) => deltas[i]![round - 1]!));
    const clients = trainers.map(
      (trainer, i) =>
        new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: coord.fingerprint, name: `c${i}` }),
    );
    const runs = clients.map((c) => c.run());
    const end = await coord.done;
    await Promise.all(runs);
    expect(end.status).toBe('finished');

    // Independent calculation in float64: w_r = w_{r-1} + sum_i n_i d_i / sum_i n_i.
    const total = examples.reduce((a, b) => a + b, 0);
    const expected = Float64Array.from(initial);
    for (let round = 0; round < 2; round++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < 3; i++) s += examples[i]! * deltas[i]![round]![j]!;
        expected[j] = Math.fround(expected[j]! + s / total);
      }
      // Every client trained round 2 from exactly the round-1 aggregate.
      if (round === 0) for (const t of trainers) expect(maxAbsDiff(t.seenGlobals[1]!, expected)).toBeLessThanOrEqual(1e-6);
    }
    const actual = coord.context.model.weights;
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-6);

    // The REST artifact serves the same weights.
    const bin = new Float32Array(await (await fetch(`${coord.url}/api/model/weights.bin`)).arrayBuffer());
    expect(maxAbsDiff(bin, expected)).toBeLessThanOrEqual(1e-6);
    const rounds = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; reported: number; totalExamples: number }[] };
    expect(rounds.rounds.map((r) => [r.status, r.reported, r.totalExamples])).toEqual([
      ['completed', 3, total],
      ['completed', 3, total],
    ]);
  } finally {
    await coord.cleanup();
  }
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
