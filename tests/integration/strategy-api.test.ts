import { presetSpec } from '@fedlink/core';
import { startTestCoordinator } from '../helpers/coordinator.js';

// POST /api/runs takes the one strategy spec (or a preset name), validated by its one schema,
// and the new run's stored settings carry the spec the CLI, checkpoints and dashboard read.
test('a new run through the admin API takes a strategy preset or spec; a bad spec is a 400 naming its field', async () => {
  const started: string[] = [];
  const coord = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 1, minAvailable: 5, overSelect: 0 } }, { options: { onNewRun: (id) => started.push(id) } });
  const post = (body: unknown) =>
    fetch(`${coord.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${coord.adminToken}` }, body: JSON.stringify(body) });
  try {
    const status = (await (await fetch(`${coord.url}/api/status`)).json()) as { settings: { strategy: unknown } };
    expect(status.settings.strategy).toEqual(presetSpec('fedavg'));
    expect((await fetch(`${coord.url}/api/runs/${coord.runId}/stop`, { method: 'POST', headers: { authorization: `Bearer ${coord.adminToken}` } })).status).toBe(202);
    await coord.done;

    const bad = await post({ strategy: { name: 'x', aggregator: { kind: 'mean' }, optimizer: { kind: 'adam', lr: 0.01, beta1: 1.5, beta2: 0.99, tau: 0.001 } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/strategy/) });
    const unknown = await post({ strategy: 'fedsgd' });
    expect(unknown.status).toBe(400);

    const spec = { name: 'clipped-momentum', aggregator: { kind: 'mean' }, optimizer: { kind: 'momentum', lr: 1, momentum: 0.5 }, wrappers: [{ kind: 'clip', maxNorm: 10 }] };
    const ok = await post({ strategy: spec });
    expect(ok.status).toBe(202);
    const body = (await ok.json()) as { runId: string; settings: { strategy: unknown } };
    expect(body.settings.strategy).toEqual(spec);
    expect(coord.archive!.run(body.runId)!.settings.strategy).toEqual(spec);
    expect(started).toEqual([body.runId]);
  } finally {
    await coord.cleanup();
  }
});

test('a preset with a server learning rate becomes the preset spec with that step', async () => {
  const started: string[] = [];
  const coord = await startTestCoordinator({ rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 5, overSelect: 0 } }, { options: { onNewRun: (id) => started.push(id) } });
  try {
    await fetch(`${coord.url}/api/runs/${coord.runId}/stop`, { method: 'POST', headers: { authorization: `Bearer ${coord.adminToken}` } });
    await coord.done;
    const res = await fetch(`${coord.url}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${coord.adminToken}` },
      body: JSON.stringify({ strategy: 'fedadam', serverLearningRate: 0.02 }),
    });
    expect(res.status).toBe(202);
    const { settings } = (await res.json()) as { settings: { strategy: unknown } };
    expect(settings.strategy).toEqual(presetSpec('fedadam', { serverLearningRate: 0.02 }));
  } finally {
    await coord.cleanup();
  }
});
