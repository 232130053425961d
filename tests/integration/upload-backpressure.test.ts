import { FedlinkClient } from '@fedlink/client';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

// Upload backpressure end to end: a receive budget of one byte makes every update pause reading
// all client sockets until it is added. Nothing may be lost or refused, and the run's weights
// must be the example-weighted mean of the known deltas, as without backpressure.
test('with reading paused for every update, every update of every round is added: the exact FedAvg weights', async () => {
  const clients = 6;
  const rounds = 2;
  const coord = await startTestCoordinator(
    { rounds, selection: { fraction: 1, minFit: clients, minAvailable: clients, overSelect: 0 } },
    { config: { receiveBudgetBytes: 1, intakeWorkers: 1 } },
  );
  try {
    const initial = coord.context.model.weights.slice();
    const n = initial.length;
    const examples = Array.from({ length: clients }, (_, i) => 100 * (i + 1));
    const deltas = examples.map((_, i) => Array.from({ length: rounds }, (_, r) => testVector(n, 31 * i + 7 * r + 1)));
    const runs = examples.map((count, i) =>
      new FedlinkClient({
        url: coord.url,
        token: TEST_TOKEN,
        trainer: new FixedDeltaTrainer(count, (round) => deltas[i]![round - 1]!),
        platform: 'node',
        backend: 'test',
        serverFingerprint: coord.fingerprint,
        name: `c${i}`,
      }).run(),
    );
    const end = await coord.done;
    await Promise.all(runs);
    expect(end.status).toBe('finished');

    const total = examples.reduce((a, b) => a + b, 0);
    const expected = Float64Array.from(initial);
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < clients; i++) s += examples[i]! * deltas[i]![r]![j]!;
        expected[j] = Math.fround(expected[j]! + s / total);
      }
    }
    let worst = 0;
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(coord.context.model.weights[j]! - expected[j]!));
    expect(worst).toBeLessThanOrEqual(1e-6);
    const history = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; reported: number }[] };
    expect(history.rounds.map((r) => [r.status, r.reported])).toEqual(Array.from({ length: rounds }, () => ['completed', clients]));

    const budget = coord.receiveBudget;
    // Every update passed the one-byte limit: reading paused at least once a round, and it is read again now.
    expect(budget.pauses).toBeGreaterThanOrEqual(rounds);
    expect([budget.held, budget.paused]).toEqual([0, false]);
    // Paused on the first update held, the sockets delivered no further one until it was added.
    const sealedBytes = 4 * n + 16;
    expect(budget.peakHeldBytes).toBeGreaterThanOrEqual(sealedBytes);
    expect(budget.peakHeldBytes).toBeLessThan(2 * sealedBytes);
    const metrics = await (await fetch(`${coord.url}/metrics`)).text();
    const value = (name: string) => Number(metrics.match(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm'))?.[1]);
    expect(value('fedlink_receive_pauses_total')).toBe(budget.pauses);
    expect(value('fedlink_updates_held_bytes')).toBe(0);
    expect(value('fedlink_receive_budget_bytes')).toBe(1);
  } finally {
    await coord.cleanup();
  }
});
