import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientIdOf, generateIdentity } from '@fedlink/crypto';
import { JoinTokenStore } from '@fedlink/coordinator';
import { EVENTS } from '@fedlink/protocol';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

type Coord = Awaited<ReturnType<typeof startTestCoordinator>>;

/** Says hello with `token` as a client with `identity`; returns the error code or 'ok'. */
async function hello(coord: Coord, token: string | undefined, identity = generateIdentity()): Promise<{ code: string; message: string; client: RawClient }> {
  const c = await RawClient.connect(coord.url, identity);
  const r = await c.request(EVENTS.hello, await c.signedHello(token));
  if (r.ok) return { code: 'ok', message: '', client: c };
  await waitFor(() => c.disconnected, 'the refused socket to be closed');
  return { code: r.error.code, message: r.error.message, client: c };
}

const RUN = { rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 50, overSelect: 0 } };

describe('join tokens (stored hashed in SQLite)', () => {
  let coord: Coord;
  const opened: RawClient[] = [];
  beforeAll(async () => {
    coord = await startTestCoordinator(RUN);
  });
  afterAll(async () => {
    opened.forEach((c) => c.close());
    await coord.cleanup();
  });
  const as = async (token: string | undefined, identity = generateIdentity()) => {
    const r = await hello(coord, token, identity);
    opened.push(r.client);
    return r;
  };

  test('the token itself is not stored, only its hash', () => {
    const t = coord.tokens!.create({ label: 'hash check' });
    const rows = coord.archive!.db.prepare('SELECT * FROM join_tokens WHERE id = ?').all(t.id);
    expect(JSON.stringify(rows)).not.toContain(t.token);
  });

  test('an expired token is refused', async () => {
    // Created two hours ago with a one-hour lifetime.
    const past = new JoinTokenStore(coord.archive!.db, () => Date.now() - 2 * 3_600_000).create({ ttlMs: 3_600_000 });
    const r = await as(past.token);
    expect(r.code).toBe('unauthorized');
    expect(r.message).toMatch(/expired/);
    const fresh = coord.tokens!.create({ ttlMs: 3_600_000 });
    expect((await as(fresh.token)).code).toBe('ok');
  });

  test('a revoked token admits nobody, not even a client that joined with it before', async () => {
    const t = coord.tokens!.create();
    const a = generateIdentity();
    expect((await as(t.token, a)).code).toBe('ok');
    expect(coord.tokens!.revoke(t.id)).toBe(true);
    const again = await as(t.token, a);
    expect(again.code).toBe('unauthorized');
    expect(again.message).toMatch(/revoked/);
    expect((await as(t.token)).code).toBe('unauthorized');
    expect(coord.tokens!.get(t.id)!.state).toBe('revoked');
  });

  test('a use limit counts distinct clients: a reconnect is free, a new client over the limit is refused', async () => {
    const t = coord.tokens!.create({ maxUses: 2 });
    const a = generateIdentity();
    expect((await as(t.token, a)).code).toBe('ok');
    expect((await as(t.token)).code).toBe('ok');
    const third = await as(t.token);
    expect(third.code).toBe('unauthorized');
    expect(third.message).toMatch(/already used by its 2 allowed client/);
    expect((await as(t.token, a)).code).toBe('ok'); // same key, new connection
    expect(coord.tokens!.get(t.id)).toMatchObject({ uses: 2, state: 'used up' });
  });

  test('a replayed hello is refused and grants nothing, even with a valid token', async () => {
    const t = coord.tokens!.create({ maxUses: 5 });
    const a = await RawClient.connect(coord.url);
    opened.push(a);
    const h = await a.signedHello(t.token);
    const b = await RawClient.connect(coord.url);
    opened.push(b);
    await b.challenge();
    const onOther = await b.request(EVENTS.hello, h);
    expect(!onOther.ok && onOther.error.code).toBe('bad_signature');
    expect((await a.request(EVENTS.hello, h)).ok).toBe(true);
    const twice = await a.request(EVENTS.hello, h);
    expect(!twice.ok && twice.error.code).toBe('replay');
    expect(coord.tokens!.get(t.id)!.uses).toBe(1);
  });

  test('the static token still works, an unknown one does not', async () => {
    expect((await as(TEST_TOKEN)).code).toBe('ok');
    expect((await as('flj_not-a-real-token')).code).toBe('unauthorized');
  });
});

describe('allowlist mode, connection and hello limits', () => {
  test('only allowlisted keys join (no token needed); others are refused even with a valid token', async () => {
    const allowed = generateIdentity();
    const keysDir = await mkdtemp(join(tmpdir(), 'fedlink-keys-'));
    const file = join(keysDir, 'allowed-keys.txt');
    await writeFile(file, `# devices\n${clientIdOf(allowed.signPublicKey)}  # tablet 1\n`);
    const coord = await startTestCoordinator(RUN, { config: { allowKeysFile: file } });
    try {
      expect((await hello(coord, undefined, allowed)).code).toBe('ok');
      const other = await hello(coord, TEST_TOKEN);
      expect(other.code).toBe('unauthorized');
      expect(other.message).toMatch(/not on this coordinator's key allowlist/);
    } finally {
      await coord.cleanup();
      await rm(keysDir, { recursive: true, force: true });
    }
  });

  test('over the budget of unjoined connections: a typed error, then the socket is closed; the coordinator keeps serving', async () => {
    const coord = await startTestCoordinator(RUN, { config: { maxPending: 2 } });
    try {
      const a = await RawClient.connect(coord.url);
      const b = await RawClient.connect(coord.url);
      const c = await RawClient.connect(coord.url);
      await waitFor(() => c.disconnected, 'the third connection to be closed');
      expect(c.errors[0]?.code).toBe('too_many_connections');
      expect(a.disconnected || b.disconnected).toBe(false);
      a.close();
      await waitFor(() => coord.gatekeeper.connections === 1, 'the closed connection to be counted');
      expect((await hello(coord, TEST_TOKEN)).code).toBe('ok');
      b.close();
    } finally {
      await coord.cleanup();
    }
  });

  test('hellos over the per-address rate get rate_limited and a disconnect', async () => {
    const coord = await startTestCoordinator(RUN, { config: { helloRatePerMinute: 3 } });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await hello(coord, TEST_TOKEN);
        codes.push(r.code);
        r.client.close();
      }
      expect(codes).toEqual(['ok', 'ok', 'ok', 'rate_limited', 'rate_limited']);
    } finally {
      await coord.cleanup();
    }
  });
});
