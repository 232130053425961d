import { startTestCoordinator } from '../helpers/coordinator.js';

// POST /api/runs takes the robust aggregators and adaptive optimizers through the one spec, and
// refuses at start what cannot work, with the reason (Bulyan with too few updates a round).
test('a new run through the admin API takes a robust preset or spec; Bulyan below 4f + 3 updates is a 400 with the reason', async () => {
  const started: string[] = [];
  const coord = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 1, minAvailable: 5, overSelect: 0 } }, { options: { onNewRun: (id) => started.push(id) } });
  const post = (body: unknown) =>
    fetch(`${coord.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${coord.adminToken}` }, body: JSON.stringify(body) });
  try {
    expect((await fetch(`${coord.url}/api/runs/${coord.runId}/stop`, { method: 'POST', headers: { authorization: `Bearer ${coord.adminToken}` } })).status).toBe(202);
    await coord.done;

    const few = await post({ strategy: 'bulyan' });
    expect(few.status).toBe(400);
    expect(((await few.json()) as { error: { message: string } }).error.message).toMatch(/bulyan needs at least 7 updates a round; raise min-fit \(1\) to 7/);
    const badBeta = await post({ strategy: { name: 'x', aggregator: { kind: 'trimmed-mean', beta: 0.6 }, optimizer: { kind: 'sgd', lr: 1 } } });
    expect(badBeta.status).toBe(400);

    const spec = { name: 'krum-yogi', aggregator: { kind: 'krum', f: 1, m: 3 }, optimizer: { kind: 'yogi', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 }, wrappers: [] };
    const ok = await post({ strategy: spec, selection: { minFit: 5 } });
    expect(ok.status).toBe(202);
    const body = (await ok.json()) as { runId: string; settings: { strategy: unknown } };
    expect(body.settings.strategy).toEqual(spec);
    expect(coord.archive!.run(body.runId)!.settings.strategy).toEqual(spec);
    expect(started).toEqual([body.runId]);
  } finally {
    await coord.cleanup();
  }
});
