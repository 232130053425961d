import { startTestCoordinator } from '../helpers/coordinator.js';

const RUN = { rounds: 2, selection: { fraction: 1, minFit: 1, minAvailable: 5, overSelect: 0 } };

test('control endpoints need the admin token; stop ends the run for good; a new run starts only after it', async () => {
  let resolveStart!: (id: string) => void;
  const onStart = new Promise<string>((resolve) => (resolveStart = resolve));
  const coord = await startTestCoordinator(RUN, { options: { onNewRun: (id) => resolveStart(id) } });
  const api = (path: string, init: RequestInit = {}, admin = true) =>
    fetch(`${coord.url}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(admin ? { authorization: `Bearer ${coord.adminToken}` } : {}) },
    });
  try {
    expect((await api('/api/status', {}, false)).status).toBe(200); // read-only: public by default
    expect((await api(`/api/runs/${coord.runId}/stop`, { method: 'POST' }, false)).status).toBe(401);
    expect((await api('/api/tokens', { method: 'POST', body: '{}' }, false)).status).toBe(401);
    const wrong = await fetch(`${coord.url}/api/tokens`, { headers: { authorization: 'Bearer fla_wrong' } });
    expect(wrong.status).toBe(401);

    const early = await api('/api/runs', { method: 'POST', body: JSON.stringify({ rounds: 3 }) });
    expect(early.status).toBe(409);
    const bad = await api(`/api/runs/${coord.runId}/stop`.replace(coord.runId, 'run_nope'), { method: 'POST' });
    expect(bad.status).toBe(404);

    const stop = await api(`/api/runs/${coord.runId}/stop`, { method: 'POST' });
    expect(stop.status).toBe(202);
    expect(await coord.done).toMatchObject({ status: 'stopped' });
    expect(coord.archive!.run(coord.runId)!.status).toBe('stopped');

    const invalid = await api('/api/runs', { method: 'POST', body: JSON.stringify({ rounds: 0 }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    const next = await api('/api/runs', { method: 'POST', body: JSON.stringify({ rounds: 3, selection: { minFit: 2, minAvailable: 2 } }) });
    expect(next.status).toBe(202);
    const body = (await next.json()) as { runId: string; settings: { rounds: number; selection: { minFit: number } } };
    expect(body.settings).toMatchObject({ rounds: 3, selection: { minFit: 2 } });
    expect(await onStart).toBe(body.runId);
    // Recorded, not yet started: the host (fedlink serve) restarts on it through the resume path.
    expect(coord.archive!.latestUnfinished()).toMatchObject({ runId: body.runId, round: 0, status: 'running' });

    const token = await api('/api/tokens', { method: 'POST', body: JSON.stringify({ uses: 3, ttlMs: 60_000 }) });
    expect(token.status).toBe(201);
    const t = (await token.json()) as { id: string; token: string };
    expect(t.token).toMatch(/^flj_/);
    const list = (await (await api('/api/tokens')).json()) as { tokens: { id: string; state: string }[] };
    expect(list.tokens.find((x) => x.id === t.id)?.state).toBe('active');
    expect((await api(`/api/tokens/${t.id}`, { method: 'DELETE' })).status).toBe(200);
    expect(coord.tokens!.get(t.id)!.state).toBe('revoked');
  } finally {
    await coord.cleanup();
  }
});

test('--private-status puts the read-only endpoints behind the admin token', async () => {
  const coord = await startTestCoordinator(RUN, { config: { publicStatus: false } });
  try {
    for (const path of ['/api/status', '/api/rounds', '/api/runs', '/metrics']) {
      expect((await fetch(`${coord.url}${path}`)).status).toBe(401);
      expect((await fetch(`${coord.url}${path}`, { headers: { authorization: `Bearer ${coord.adminToken}` } })).status).toBe(200);
    }
  } finally {
    await coord.cleanup();
  }
});
