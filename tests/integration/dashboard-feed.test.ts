import { io } from 'socket.io-client';
import { FedlinkClient } from '@fedlink/client';
import { generateIdentity } from '@fedlink/crypto';
import { DASHBOARD_EVENTS, type DashboardRound, type DashboardSnapshot, toBase64 } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

// The dashboard's live channel, without a browser: what it pushes, and what it never carries.
test('the /dashboard namespace pushes a snapshot and every round live, read-only, without secrets', async () => {
  const coord = await startTestCoordinator({ rounds: 2, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
  const dash = io(`${coord.url}/dashboard`, { transports: ['websocket'], reconnection: false, forceNew: true });
  const seen: { event: string; payload: unknown }[] = [];
  let waiter: { cond: () => boolean; resolve: () => void } | undefined;
  dash.onAny((event: string, payload: unknown) => {
    seen.push({ event, payload });
    if (waiter?.cond()) waiter.resolve();
  });
  /** Resolves once `cond` holds after some event; fails at the deadline. */
  const until = (cond: () => boolean, ms = 10_000) =>
    cond()
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`dashboard event did not arrive in time; seen: ${seen.map((s) => (s.event === DASHBOARD_EVENTS.clients ? `clients(${(s.payload as unknown[]).length})` : s.event)).join(' ')}`)), ms);
          waiter = { cond, resolve: () => (clearTimeout(timer), resolve()) };
        });
  try {
    const snapshot = await new Promise<DashboardSnapshot>((resolve) => dash.once(DASHBOARD_EVENTS.snapshot, resolve));
    expect(snapshot).toMatchObject({ status: 'running', round: 0, rounds: [], clients: [], run: { runId: coord.runId, model: 'mlp', rounds: 2, fingerprint: coord.fingerprint } });

    // Read-only: nothing a dashboard sends is handled.
    await expect(dash.timeout(300).emitWithAck('hello', { token: TEST_TOKEN })).rejects.toThrow();

    const identity = generateIdentity();
    const client = new FedlinkClient({
      url: coord.url,
      token: TEST_TOKEN,
      identity,
      trainer: new FixedDeltaTrainer(42, (round, n) => testVector(n, round)),
      platform: 'node',
      backend: 'test',
      name: 'feed-test',
    });
    await client.run();
    await coord.done;
    // The run ends and the client leaves: the last clients list is empty. (The client may leave
    // before or after the dashboard hears run:ended: the two are pushed by different listeners.)
    await until(() => {
      const lists = seen.filter((s) => s.event === DASHBOARD_EVENTS.clients);
      return seen.some((s) => s.event === DASHBOARD_EVENTS.runEnded) && lists.length > 0 && (lists[lists.length - 1]!.payload as unknown[]).length === 0;
    });

    const events = seen.map((s) => s.event);
    expect(events).toEqual(expect.arrayContaining(['phase', 'round:started', 'round:record', 'clients', 'run:ended']));
    const records = seen.filter((s) => s.event === DASHBOARD_EVENTS.round).map((s) => s.payload as DashboardRound);
    expect(records.map((r) => [r.round, r.status, r.reported, r.totalExamples])).toEqual([
      [1, 'completed', 1, 42],
      [2, 'completed', 1, 42],
    ]);
    // The same facts as the REST API.
    const rest = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: DashboardRound[] };
    expect(records).toEqual(rest.rounds);
    const clients = seen.filter((s) => s.event === DASHBOARD_EVENTS.clients).map((s) => s.payload as { name: string; platform: string }[]);
    expect(clients.some((c) => c.some((x) => x.name === 'feed-test' && x.platform === 'node'))).toBe(true);

    // No key, token or shared secret in anything pushed.
    const text = JSON.stringify(seen);
    const secrets = [TEST_TOKEN, identity.signSecretKey, identity.boxSecretKey, coord.context.identity.signSecretKey, coord.context.identity.boxSecretKey];
    for (const s of secrets) expect(text).not.toContain(typeof s === 'string' ? s : toBase64(s));
    expect(text).not.toMatch(/sharedKey|SecretKey|"peer"|"token"/);
    expect(coord.registry.size).toBe(0);
  } finally {
    dash.close();
    await coord.cleanup();
  }
});
