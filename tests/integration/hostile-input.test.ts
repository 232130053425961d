import { FedlinkClient } from '@fedlink/client';
import { generateIdentity, sharedKey } from '@fedlink/crypto';
import { EVENTS, PROTOCOL_VERSION, toBase64 } from '@fedlink/protocol';
import type { RoundRecord } from '@fedlink/coordinator';
import { FixedDeltaTrainer, deferred, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

type Coord = Awaited<ReturnType<typeof startTestCoordinator>>;

describe('bad input gets a typed error and the run survives', () => {
  let coord: Coord;

  beforeAll(async () => {
    coord = await startTestCoordinator({ rounds: 1, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } });
  });
  afterAll(async () => {
    await coord.cleanup();
  });

  test.each([
    ['malformed hello', async (_c: RawClient) => ({ protocol: PROTOCOL_VERSION, hello: 'there' }), 'bad_request'],
    ['wrong protocol version', async (c: RawClient) => c.signedHello(TEST_TOKEN, { protocol: PROTOCOL_VERSION + 1 }), 'protocol_mismatch'],
    ['bad token', async (c: RawClient) => c.signedHello('not-the-token'), 'unauthorized'],
    ['missing token', async (c: RawClient) => c.signedHello(undefined), 'unauthorized'],
    [
      'signature by another key',
      async (c: RawClient) => {
        const h = await c.signedHello(TEST_TOKEN);
        return { ...h, signPublicKey: toBase64(generateIdentity().signPublicKey) };
      },
      'bad_signature',
    ],
    ['hello without a challenge', async (c: RawClient) => ({ ...(await c.signedHello(TEST_TOKEN)), __noChallenge: true }), 'bad_request'],
  ])('%s', async (_name, makeHello, code) => {
    const c = await RawClient.connect(coord.url);
    const reply = await c.request(EVENTS.hello, await makeHello(c));
    expect(reply.ok).toBe(false);
    expect(!reply.ok && reply.error.code).toBe(code);
    await waitFor(() => c.disconnected, 'the refused socket to be closed');
    expect(c.errors[0]?.code).toBe(code);
  });

  test('a hello replayed on another connection, or twice on one, is refused', async () => {
    const a = await RawClient.connect(coord.url);
    const hello = await a.signedHello(TEST_TOKEN);
    const b = await RawClient.connect(coord.url);
    await b.challenge();
    const onOther = await b.request(EVENTS.hello, hello);
    b.close();
    expect(!onOther.ok && onOther.error.code).toBe('bad_signature');
    // Not yet used on its own connection: accepted once, then the challenge is spent.
    expect((await a.request(EVENTS.hello, hello)).ok).toBe(true);
    const again = await a.request(EVENTS.hello, hello);
    expect(!again.ok && again.error.code).toBe('replay');
    a.close();
  });

  test('every bad update is refused with its own code, and the honest round aggregates exactly', async () => {
    const gate = deferred();
    const n = coord.context.model.numParams;
    const honestDelta = testVector(n, 7, 0.02);
    const honest = new FedlinkClient({
      url: coord.url,
      token: TEST_TOKEN,
      trainer: new FixedDeltaTrainer(250, () => honestDelta, () => gate.promise),
      platform: 'node',
      backend: 'test',
    });
    const honestRun = honest.run();
    const raw = await RawClient.connect(coord.url);
    const stranger = await RawClient.connect(coord.url);
    try {
    await raw.join(TEST_TOKEN);
    const start = await raw.nextRoundStart();
    expect(start.round).toBe(1);
    const initial = coord.context.model.weights.slice();
    const good = testVector(n, 9, 0.02);

    const expectRefused = async (payload: unknown, code: string, client = raw) => {
      const r = await client.request(EVENTS.update, payload);
      expect(r.ok ? 'accepted' : r.error.code).toBe(code);
    };

    await expectRefused(await raw.update(1, good), 'not_joined', stranger);
    await expectRefused({ round: 1 }, 'bad_request');
    await expectRefused('x'.repeat(10_000), 'bad_request');
    await expectRefused(await raw.update(2, good), 'wrong_round');
    await expectRefused(await raw.update(0, good), 'stale');
    await expectRefused(await raw.update(1, good, { runId: 'run_other' }), 'wrong_run');
    await expectRefused(await raw.update(1, new Float32Array(100), { manifest: [{ name: 'fc1/kernel', shape: [10, 10] }] }), 'shape_mismatch');
    const withNaN = good.slice();
    withNaN[12345] = NaN;
    await expectRefused(await raw.update(1, withNaN), 'non_finite');
    const withInf = good.slice();
    withInf[0] = -Infinity;
    await expectRefused(await raw.update(1, withInf), 'non_finite');
    const oversize = await raw.update(1, good);
    oversize.envelope.ciphertext = new Uint8Array(coord.context.maxUpdateBytes + 4096);
    await expectRefused(oversize, 'payload_too_large');
    const wrongKey = await sharedKey(generateIdentity().boxPublicKey, raw.identity.boxSecretKey);
    await expectRefused(await raw.update(1, good, { key: wrongKey }), 'decrypt_failed');
    const tampered = await raw.update(1, good);
    tampered.envelope.ciphertext[100]! ^= 1;
    await expectRefused(tampered, 'decrypt_failed');
    await expectRefused(await raw.update(1, good, { numExamples: 101 }), 'bad_request');
    await expectRefused(await raw.update(1, good, { payload: new Uint8Array([1, 2, 3]) }), 'bad_request');

    const accepted = await raw.update(1, good);
    expect((await raw.request(EVENTS.update, accepted)).ok).toBe(true);
    await expectRefused(accepted, 'replay');
    await expectRefused(await raw.update(1, good), 'duplicate');
    expect(raw.disconnected).toBe(false);

    const ended = new Promise<RoundRecord>((resolve) => coord.engine.once('roundEnded', resolve));
    gate.resolve();
    const record = await ended;
    expect(record.status).toBe('completed');
    expect(record.reported).toBe(2);
    expect(record.rejected).toBe(15); // every refusal above while the round was open (the stranger never joined)
    const end = await coord.done;
    expect(end.status).toBe('finished');
    await honestRun;

    const w = coord.context.model.weights;
    let maxDiff = 0;
    for (let j = 0; j < n; j++) {
      const expected = Math.fround(initial[j]! + (100 * good[j]! + 250 * honestDelta[j]!) / 350);
      maxDiff = Math.max(maxDiff, Math.abs(w[j]! - expected));
    }
    expect(maxDiff).toBeLessThanOrEqual(1e-6);
    } finally {
      gate.resolve();
      honest.stop();
      raw.close();
      stranger.close();
    }
  });
});
