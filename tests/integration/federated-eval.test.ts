import { FedlinkClient, TfjsTrainer } from '@fedlink/client';
import type { RoundRecord } from '@fedlink/coordinator';
import { subset } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

test('without test data on the coordinator, clients evaluate the global model on their held-out splits; the record holds the example-weighted mean', async () => {
  const { train } = await loadMnistPackage();
  const parts = [
    { data: subset(train, Array.from({ length: 300 }, (_, i) => i)), holdout: subset(train, Array.from({ length: 50 }, (_, i) => 300 + i)) },
    { data: subset(train, Array.from({ length: 300 }, (_, i) => 400 + i)), holdout: subset(train, Array.from({ length: 150 }, (_, i) => 700 + i)) },
  ];
  const coord = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } });
  try {
    // What round 1's clients must report: the initial global model on each held-out split.
    const initial = await Promise.all(parts.map((p) => coord.context.model.evaluate(p.holdout)));
    const records: RoundRecord[] = [];
    coord.engine.on('roundEnded', (r) => records.push(r));
    const clients = parts.map((p) => new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new TfjsTrainer(p.data, { holdout: p.holdout }), platform: 'node', backend: 'test' }));
    await Promise.all(clients.map((c) => c.run()));
    expect(records.map((r) => r.status)).toEqual(['completed', 'completed']);
    const [r1, r2] = records as [RoundRecord, RoundRecord];
    expect(r1.testAccuracy).toBeUndefined();
    expect(r1.federatedEval).toMatchObject({ examples: 200, clients: 2 });
    expect(r1.federatedEval!.loss).toBeCloseTo((initial[0]!.loss * 50 + initial[1]!.loss * 150) / 200, 4);
    expect(r1.federatedEval!.accuracy).toBeCloseTo((initial[0]!.accuracy! * 50 + initial[1]!.accuracy! * 150) / 200, 6);
    // Round 2 starts from the model trained in round 1: it does better on the held-out digits.
    expect(r2.federatedEval!.accuracy).toBeGreaterThan(r1.federatedEval!.accuracy + 0.2);
    expect((await coord.done).metrics.clientEvalAccuracy).toBeCloseTo(r2.federatedEval!.accuracy, 10);
  } finally {
    await coord.cleanup();
  }
}, 120_000);
