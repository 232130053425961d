import { FedlinkClient } from '@fedlink/client';
import type { FedlinkError } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

// A coordinator that admits 2 joins a second and 6 clients started at once: those over the rate
// are refused with rate_limited and a retry-after, come back when told, and all join; the run completes.
test('clients over the join rate are told when to retry, come back, and all join', async () => {
  const clients = 6;
  const coord = await startTestCoordinator({ rounds: 1, selection: { fraction: 1, minFit: clients, minAvailable: clients, overSelect: 0 } }, { config: { joinRatePerSecond: 2 } });
  try {
    const refusals: FedlinkError[] = [];
    const runs = Array.from({ length: clients }, (_, i) => {
      const c = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(10, (_r, n) => testVector(n, i + 1)), platform: 'node', backend: 'test', serverFingerprint: coord.fingerprint, name: `c${i}` });
      c.on('error', (e) => refusals.push(e));
      return c.run();
    });
    const end = await coord.done;
    await Promise.all(runs);
    expect(end.status).toBe('finished');
    const rounds = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; reported: number }[] };
    expect(rounds.rounds).toEqual([expect.objectContaining({ status: 'completed', reported: clients })]);
    // A burst of 2 and 1 more every 0.5 s: six clients starting together can't all be admitted at once.
    expect(refusals.length).toBeGreaterThan(0);
    for (const e of refusals) {
      expect(e.code).toBe('rate_limited');
      expect(e.retryAfterMs).toBeGreaterThan(0);
    }
  } finally {
    await coord.cleanup();
  }
}, 120_000);
