import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { FedlinkClient } from '@fedlink/client';
import { ED25519_SMALL_ORDER, X25519_LOW_ORDER, clientIdOf, generateIdentity, signHello } from '@fedlink/crypto';
import { parseAllowlist } from '@fedlink/coordinator';
import { DASHBOARD_NAMESPACE, EVENTS, FedlinkError, toBase64 } from '@fedlink/protocol';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { RawClient } from '../helpers/raw-client.js';
import { makeTestPki } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

type Coord = Awaited<ReturnType<typeof startTestCoordinator>>;
const RUN = { rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1000, overSelect: 0 } };

const withTopBit = (b: Uint8Array) => {
  const c = b.slice();
  c[31]! |= 0x80;
  return c;
};
/** Every encoding of the 8 small-order points, and the non-canonical y = p, p + 1 forms. */
const WEAK_SIGNING_KEYS = ED25519_SMALL_ORDER.flatMap((b) => [b, withTopBit(b)]);
const WEAK_BOX_KEYS = X25519_LOW_ORDER.flatMap((b) => [b, withTopBit(b)]);
/** R = neutral point, S = 0: verifies for any message under a small-order key in tweetnacl. */
const FORGED = (() => {
  const s = new Uint8Array(64);
  s[0] = 1;
  return s;
})();

async function helloCode(coord: Coord, build: (c: RawClient, nonce: Uint8Array) => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<string> {
  const c = await RawClient.connect(coord.url);
  try {
    const nonce = await c.challenge();
    const r = await c.request(EVENTS.hello, await build(c, nonce));
    return r.ok ? 'ok' : r.error.code;
  } finally {
    c.close();
  }
}

const baseHello = (c: RawClient) => ({ protocol: 1, platform: 'node', backend: 'test', numExamples: 10, token: TEST_TOKEN, boxPublicKey: toBase64(c.identity.boxPublicKey) });

describe('weak keys are refused at hello and in allowlists; honest clients are unaffected', () => {
  let coord: Coord;
  beforeAll(async () => {
    coord = await startTestCoordinator(RUN);
  });
  afterAll(() => coord.cleanup());

  test('each small-order signing key with the forged (R = O, S = 0) signature: weak_key, nobody joins', async () => {
    for (const key of WEAK_SIGNING_KEYS) {
      expect(await helloCode(coord, (c) => ({ ...baseHello(c), signPublicKey: toBase64(key), signature: toBase64(FORGED) }))).toBe('weak_key');
    }
    expect(coord.registry.size).toBe(0);
  });

  test('low-order box keys (signed correctly over them): weak_key', async () => {
    for (const box of WEAK_BOX_KEYS) {
      const code = await helloCode(coord, async (c, nonce) => ({
        ...baseHello(c),
        signPublicKey: toBase64(c.identity.signPublicKey),
        boxPublicKey: toBase64(box),
        signature: toBase64(await signHello(c.identity.signSecretKey, nonce, c.socket.id!, box)),
      }));
      expect(code).toBe('weak_key');
    }
  });

  test('a small-order R or S >= L in an honest key\'s signature: bad_signature', async () => {
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    const le = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
    for (const tamper of ['small-order R', 'S + L'] as const) {
      const code = await helloCode(coord, async (c, nonce) => {
        const sig = await signHello(c.identity.signSecretKey, nonce, c.socket.id!, c.identity.boxPublicKey);
        if (tamper === 'small-order R') sig.set(ED25519_SMALL_ORDER[3]!, 0);
        else {
          const s = le(sig.subarray(32)) + L;
          for (let i = 0; i < 32; i++) sig[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
        }
        return { ...baseHello(c), signPublicKey: toBase64(c.identity.signPublicKey), signature: toBase64(sig) };
      });
      expect(code).toBe('bad_signature');
    }
  });

  test('an honest client still joins, and is the only one registered', async () => {
    const c = await RawClient.connect(coord.url);
    await c.join(TEST_TOKEN);
    expect(coord.registry.size).toBe(1);
    c.close();
  });

  test('an allowlist file listing a weak key is refused with weak_key (and names the line)', async () => {
    for (const key of WEAK_SIGNING_KEYS) {
      let err: unknown;
      try {
        parseAllowlist(`# devices\n${clientIdOf(generateIdentity().signPublicKey)}\n${toBase64(key)}  # forged\n`, 'keys.txt');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FedlinkError);
      expect((err as FedlinkError).code).toBe('weak_key');
      expect((err as FedlinkError).message).toMatch(/^keys\.txt:3: /);
    }
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-keys-'));
    const file = join(dir, 'allowed.txt');
    await writeFile(file, `${toBase64(ED25519_SMALL_ORDER[1]!)}\n`);
    await expect(startTestCoordinator(RUN, { config: { allowKeysFile: file } })).rejects.toMatchObject({ code: 'weak_key' });
    await rm(dir, { recursive: true, force: true });
  });
});

describe('connection budgets and the handshake deadline', () => {
  const rawSocket = (url: string, ns = '') => io(url + ns, { transports: ['websocket'], reconnection: false, forceNew: true });
  const opened = (s: Socket) => new Promise<boolean>((resolve) => {
    s.once('connect', () => resolve(true));
    s.once('connect_error', () => resolve(false));
  });

  test('50 connections that never say hello are closed at the deadline; a real device joins while they are open', async () => {
    const coord = await startTestCoordinator(RUN, { config: { handshakeTimeoutMs: 3_000, maxPending: 52 } });
    const silent: Socket[] = [];
    const errors: string[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const s = rawSocket(coord.url);
        s.on(EVENTS.error, (e: { code: string }) => errors.push(e.code));
        silent.push(s);
      }
      await Promise.all(silent.map(opened));
      expect(coord.gatekeeper.count('pending')).toBe(50);
      const device = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(10, () => new Float32Array(0)), platform: 'node', backend: 'test', reconnect: false });
      const joined = new Promise<void>((resolve) => device.on('welcome', () => resolve()));
      void device.run().catch(() => undefined);
      await joined;
      expect(coord.registry.size).toBe(1);
      expect(silent.every((s) => s.connected)).toBe(true);
      await waitFor(() => silent.every((s) => !s.connected), 'the silent connections to be closed', 15_000);
      expect(errors.filter((c) => c === 'timeout')).toHaveLength(50);
      expect(coord.gatekeeper.count('pending')).toBe(0);
      expect(coord.gatekeeper.count('client')).toBe(1);
      device.stop();
    } finally {
      silent.forEach((s) => s.close());
      await coord.cleanup();
    }
  });

  test('1,100 dashboard connections against a limit of 1,000: the excess is refused, the federation is unaffected', async () => {
    const coord = await startTestCoordinator(RUN, { config: { maxDashboard: 1000, maxPerAddress: 0 } });
    const viewers: Socket[] = [];
    let refused = 0;
    try {
      for (let i = 0; i < 1100; i++) {
        const s = rawSocket(coord.url, DASHBOARD_NAMESPACE);
        s.on(EVENTS.error, (e: { code: string }) => e.code === 'too_many_connections' && refused++);
        viewers.push(s);
      }
      await waitFor(() => coord.gatekeeper.count('dashboard') === 1000 && refused === 100, '1,000 viewers in and 100 refused', 60_000);
      await waitFor(() => viewers.filter((s) => s.connected).length === 1000, 'the refused viewers to be closed', 20_000);
      // Devices have their own budget.
      const c = await RawClient.connect(coord.url);
      await c.join(TEST_TOKEN);
      c.close();
      // A freed viewer slot is usable again.
      viewers.find((s) => s.connected)!.close();
      await waitFor(() => coord.gatekeeper.count('dashboard') === 999, 'the closed viewer to be counted');
      const again = rawSocket(coord.url, DASHBOARD_NAMESPACE);
      const snapshot = new Promise<boolean>((resolve) => again.once('snapshot', () => resolve(true)));
      expect(await snapshot).toBe(true);
      again.close();
    } finally {
      viewers.forEach((s) => s.close());
      await coord.cleanup();
    }
  });

  test('per-address cap on unjoined connections; joined clients and the client budget are separate', async () => {
    const coord = await startTestCoordinator(RUN, { config: { maxPerAddress: 3, maxConnections: 2 } });
    try {
      const pending = await Promise.all([0, 1, 2].map(() => RawClient.connect(coord.url)));
      const fourth = await RawClient.connect(coord.url);
      await waitFor(() => fourth.disconnected, 'the fourth connection from the address to be closed');
      expect(fourth.errors[0]?.code).toBe('too_many_connections');
      expect(fourth.errors[0]?.message).toMatch(/from 127\.0\.0\.1/);
      // Joining frees the address slot: two join, then a new connection from the address fits.
      await pending[0]!.join(TEST_TOKEN);
      await pending[1]!.join(TEST_TOKEN);
      const next = await RawClient.connect(coord.url);
      expect(next.disconnected).toBe(false);
      // But the client budget (2) is full: a third hello is refused.
      const r = await pending[2]!.request(EVENTS.hello, await pending[2]!.signedHello(TEST_TOKEN));
      expect(!r.ok && r.error.code).toBe('too_many_connections');
      expect(coord.registry.size).toBe(2);
      [...pending, next].forEach((c) => c.close());
    } finally {
      await coord.cleanup();
    }
  });
});

describe('TLS: https and wss with a private CA', () => {
  test('a device joins over wss trusting the CA, and takes part in a round; without the CA it cannot connect', async () => {
    const pki = await makeTestPki();
    const coord = await startTestCoordinator(
      { rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } },
      { config: { tls: { cert: pki.cert, key: pki.key } } },
    );
    try {
      expect(coord.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const untrusting = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(10, () => new Float32Array(0)), platform: 'node', backend: 'test', reconnect: false });
      await expect(untrusting.run()).rejects.toMatchObject({ message: expect.stringMatching(/cannot reach coordinator/) });
      expect(coord.registry.size).toBe(0);

      const delta = testVector(coord.context.model.numParams, 3, 0.001);
      const device = new FedlinkClient({ url: coord.url, ca: pki.ca, token: TEST_TOKEN, serverFingerprint: coord.fingerprint, trainer: new FixedDeltaTrainer(10, () => delta), platform: 'node', backend: 'test' });
      const run = device.run();
      const end = await coord.done;
      await run;
      expect(end.status).toBe('finished');
      expect(coord.store.rounds.at(-1)?.reported).toBe(1);
    } finally {
      await coord.cleanup();
      await pki.cleanup();
    }
  });
});
