import { Strategy } from '@fedlink/core';
import { type Identity, clientIdOf, deferredSharedKey, identityFromSeed, seal, sharedKey, updateContext } from '@fedlink/crypto';
import { EVENTS, FedlinkError, type Update, encodeTensors } from '@fedlink/protocol';
import {
  ClientRegistry,
  type ClientSession,
  type ContributionSink,
  DEFAULT_RUN,
  GlobalModel,
  InMemoryRunStore,
  InThreadOpener,
  IntakePool,
  OpenRound,
  type OpenRequest,
  type OpenedUpdate,
  RoundEngine,
  RunContext,
  type RunSettings,
  UpdateIntake,
  type UpdateOpener,
  checkSpecOf,
  defaultIntakeWorkers,
  ensureEvalBackend,
  silentLog,
} from '@fedlink/coordinator';

/**
 * The intake's worker pool: what a pooled intake accepts, refuses and sums is exactly what the
 * event loop's does (same bits, same order), and at most its budget of ciphertext is with the
 * workers at once.
 */

beforeAll(async () => {
  await ensureEvalBackend();
});

const coordinator = identityFromSeed(new Uint8Array(32).fill(3));
const identity = (i: number): Identity => identityFromSeed(new Uint8Array(32).map((_, j) => (j < 4 ? (i >> (8 * j)) & 0xff : 11)));

/** Deterministic deltas of very different magnitudes, so that float additions in another order give other bits. */
function deltaOf(client: number, round: number, n: number): Float32Array {
  const d = new Float32Array(n);
  let s = (client * 7919 + round * 104_729) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    d[i] = ((s / 2 ** 32 - 0.5) * 10 ** ((client % 5) - 2)) as number;
  }
  return d;
}

type Kind = 'good' | 'non_finite' | 'tampered' | 'wrong_key';

interface Setup {
  settings: RunSettings;
  model: GlobalModel;
  context: RunContext;
  registry: ClientRegistry;
  sessions: ClientSession[];
  /** The sealed update of client i for a round. */
  update(i: number, round: number): Promise<Update>;
}

/** `kinds[i]`: what client i sends. */
function setup(kinds: readonly Kind[], run: Partial<RunSettings> = {}): Setup {
  const settings: RunSettings = {
    ...DEFAULT_RUN,
    model: 'mlp',
    rounds: 2,
    roundTimeoutMs: 60_000,
    waitTimeoutMs: 60_000,
    selection: { fraction: 1, minFit: 1, minAvailable: kinds.length, overSelect: 0 },
    ...run,
  };
  const model = new GlobalModel(settings.model, settings.seed);
  const context = new RunContext('run_pool', coordinator, model, settings, 4 * model.numParams + 1024);
  const registry = new ClientRegistry();
  const ids = kinds.map((_, i) => identity(i));
  const sessions = ids.map((id, i) =>
    registry.add({
      clientId: clientIdOf(id.signPublicKey),
      peer: { id: `peer-${i}`, address: '127.0.0.1', emit: () => undefined, request: async () => ({ ok: true }), disconnect: () => undefined },
      signPublicKey: id.signPublicKey,
      boxPublicKey: id.boxPublicKey,
      sharedKey: deferredSharedKey(id.boxPublicKey, coordinator.boxSecretKey),
      numExamples: 1000,
      platform: 'node',
      backend: 'test',
      joinedAt: Date.now(),
      lastSeen: Date.now(),
    }),
  );
  return {
    settings,
    model,
    context,
    registry,
    sessions,
    async update(i, round) {
      const kind = kinds[i]!;
      const delta = deltaOf(i, round, model.numParams);
      if (kind === 'non_finite') delta[1234] = Number.NaN;
      const key = await sharedKey(kind === 'wrong_key' ? identity(999).boxPublicKey : coordinator.boxPublicKey, ids[i]!.boxSecretKey);
      const envelope = await seal(encodeTensors(model.manifest, delta), key, updateContext(context.runId, round, sessions[i]!.clientId));
      if (kind === 'tampered') envelope.ciphertext[100]! ^= 1;
      return { runId: context.runId, round, numExamples: 10 + 37 * i, metrics: { loss: 0.5 }, envelope };
    },
  };
}

/** Runs the real engine for the setup's rounds; each round's updates are all submitted in client order, once every round:start is out. */
async function runEngine(s: Setup, workers: number): Promise<{ weights: Float32Array; codes: string[]; mode: string }> {
  const engine = new RoundEngine({ context: s.context, strategy: Strategy.fromSpec(s.settings.strategy), registry: s.registry, store: new InMemoryRunStore(), log: silentLog, intake: { workers } });
  const codes: string[] = [];
  const pending: Promise<void>[] = [];
  let starts = 0;
  for (const session of s.sessions) {
    session.peer.request = async (event: string, payload: unknown) => {
      if (event !== EVENTS.roundStart) return { ok: true };
      const round = (payload as { round: number }).round;
      if (++starts % s.sessions.length === 0) {
        const updates = await Promise.all(s.sessions.map((_, j) => s.update(j, round)));
        setImmediate(() => {
          for (const [j, sj] of s.sessions.entries()) {
            pending.push(engine.submitUpdate(sj, updates[j]!).catch((e: FedlinkError) => void codes.push(`${round}:${j}:${e.code}`)));
          }
        });
      }
      return { ok: true };
    };
  }
  const end = await engine.run();
  await Promise.all(pending);
  expect(end.status).toBe('finished');
  return { weights: s.model.weights.slice(), codes, mode: engine.intakeMode };
}

describe('pooled intake', () => {
  // Refused updates are covered below (a refused client may send again, so a round with one waits for its deadline).
  test('two rounds through 2 worker threads end in the same weights, bit for bit, as on the event loop', async () => {
    const kinds: Kind[] = Array.from({ length: 12 }, () => 'good');
    const inThread = setup(kinds);
    const pooled = setup(kinds);
    const a = await runEngine(inThread, 0);
    const b = await runEngine(pooled, 2);
    expect([a.mode, b.mode]).toEqual(['in-thread', 'pool']);
    expect([a.codes, b.codes]).toEqual([[], []]);
    expect(Buffer.from(b.weights.buffer).equals(Buffer.from(a.weights.buffer))).toBe(true);
    // The rounds moved the model: the comparison is not of two untouched copies.
    const w0 = new GlobalModel('mlp', inThread.settings.seed);
    expect(Buffer.from(a.weights.buffer).equals(Buffer.from(w0.weights.buffer))).toBe(false);
    w0.dispose();
    inThread.model.dispose();
    pooled.model.dispose();
  });
});

/** A sink that records the order of its additions and their float64 running sum. */
function recordingSink(n: number): ContributionSink & { order: number[]; sum: Float64Array } {
  const sum = new Float64Array(n);
  const order: number[] = [];
  let total = 0;
  return {
    order,
    sum,
    add(delta, numExamples) {
      order.push(numExamples);
      for (let i = 0; i < n; i++) sum[i]! += numExamples * delta[i]!;
      total += numExamples;
    },
    get count() {
      return order.length;
    },
    get totalExamples() {
      return total;
    },
  };
}

/** Opens with the in-thread opener but answers in reverse order of the requests, once `hold` of them are in. */
class ReversingOpener implements UpdateOpener {
  readonly name = 'pool';
  private held: { request: OpenRequest; resolve: (d: OpenedUpdate) => void; reject: (e: unknown) => void }[] = [];
  constructor(
    private readonly inner: UpdateOpener,
    private readonly hold: number,
  ) {}

  open(request: OpenRequest): Promise<OpenedUpdate> {
    return new Promise((resolve, reject) => {
      this.held.push({ request, resolve, reject });
      if (this.held.length === this.hold) for (const h of this.held.splice(0).reverse()) this.inner.open(h.request).then(h.resolve, h.reject);
    });
  }

  async warm(): Promise<void> {}

  async close(): Promise<void> {}
}

describe('intake order', () => {
  test('updates opened out of order are added, accepted and refused in the order they arrived', async () => {
    const kinds: Kind[] = ['good', 'good', 'non_finite', 'good', 'good', 'tampered', 'good', 'good'];
    const sums: Float64Array[] = [];
    const orders: number[][] = [];
    for (const reversed of [false, true]) {
      const s = setup(kinds);
      const inner = new InThreadOpener(checkSpecOf(s.context));
      const intake = new UpdateIntake(s.context, () => undefined, { opener: reversed ? new ReversingOpener(inner, kinds.length) : inner });
      const sink = recordingSink(s.model.numParams);
      const open = new OpenRound({ key: { round: 1, attempt: 1 }, selected: s.sessions.map((x) => x.clientId), target: 100, startedAt: Date.now(), deadline: Date.now() + 60_000, sink, autoClose: true });
      const updates = await Promise.all(s.sessions.map((_, i) => s.update(i, 1)));
      const outcomes = await Promise.all(s.sessions.map((x, i) => intake.receive(x, updates[i]!, { completedRound: 0, open }).then(() => 'ok', (e: FedlinkError) => e.code)));
      expect(outcomes).toEqual(['ok', 'ok', 'non_finite', 'ok', 'ok', 'decrypt_failed', 'ok', 'ok']);
      // The refused two may send again: the round stays open.
      expect(open.isClosed).toBe(false);
      open.close('test over');
      sums.push(sink.sum);
      orders.push(sink.order);
      s.model.dispose();
    }
    // numExamples is 10 + 37 i: the sink saw clients 0, 1, 3, 4, 6, 7 in that order both times.
    expect(orders).toEqual([[10, 47, 121, 158, 232, 269], [10, 47, 121, 158, 232, 269]]);
    expect(Buffer.from(sums[1]!.buffer).equals(Buffer.from(sums[0]!.buffer))).toBe(true);
  });

  test('a round that reaches its target while later updates are being opened refuses them as stale and adds nothing of them', async () => {
    const kinds: Kind[] = ['good', 'good', 'good', 'good', 'good'];
    const s = setup(kinds);
    const intake = new UpdateIntake(s.context, () => undefined, { opener: new ReversingOpener(new InThreadOpener(checkSpecOf(s.context)), kinds.length) });
    const sink = recordingSink(s.model.numParams);
    const open = new OpenRound({ key: { round: 1, attempt: 1 }, selected: s.sessions.map((x) => x.clientId), target: 3, startedAt: Date.now(), deadline: Date.now() + 60_000, sink, autoClose: true });
    const updates = await Promise.all(s.sessions.map((_, i) => s.update(i, 1)));
    const outcomes = await Promise.all(s.sessions.map((x, i) => intake.receive(x, updates[i]!, { completedRound: 0, open }).then(() => 'ok', (e: FedlinkError) => e.code)));
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'stale', 'stale']);
    expect(sink.order).toEqual([10, 47, 84]);
    s.model.dispose();
  });
});

describe('IntakePool', () => {
  test('opens on worker threads what the event loop opens, the same bits; refusals keep their codes; at most the budget is in flight', async () => {
    const kinds: Kind[] = ['good', 'good', 'good', 'non_finite', 'good', 'tampered', 'good', 'good', 'good', 'good', 'good', 'good'];
    const s = setup(kinds);
    const spec = checkSpecOf(s.context);
    const updates = await Promise.all(s.sessions.map((_, i) => s.update(i, 1)));
    const requests: OpenRequest[] = await Promise.all(
      updates.map(async (u, i) => ({ nonce: u.envelope.nonce, ciphertext: u.envelope.ciphertext, sharedKey: await s.sessions[i]!.sharedKey(), associatedData: updateContext(s.context.runId, 1, s.sessions[i]!.clientId) })),
    );
    const size = requests[0]!.ciphertext.byteLength;
    const budget = Math.floor(2.5 * size);
    const pool = new IntakePool(spec, { workers: 2, budgetBytes: budget, maxCiphertextBytes: s.context.maxUpdateBytes });
    const inThread = new InThreadOpener(spec);
    try {
      const settle = (p: Promise<OpenedUpdate>) =>
        p.then(
          ({ delta: d, release }) => {
            const bytes = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
            release();
            return bytes;
          },
          (e: FedlinkError) => e.code,
        );
      const pooled = await Promise.all(requests.map((r) => settle(pool.open(r))));
      const local = await Promise.all(requests.map((r) => settle(inThread.open(r))));
      expect(pooled).toEqual(local);
      expect(pooled[3]).toBe('non_finite');
      expect(pooled[5]).toBe('decrypt_failed');
      expect(pool.workers).toBe(2);
      expect(pool.slots).toBe(2);
      expect(pool.opened).toBe(kinds.length);
      expect(pool.peakInFlightBytes).toBeLessThanOrEqual(budget);
      expect(pool.peakInFlightBytes).toBeGreaterThanOrEqual(2 * size);
      // The callers' ciphertexts are untouched (copied into the slots, not moved).
      expect(requests.every((r) => r.ciphertext.byteLength === size)).toBe(true);
    } finally {
      await pool.close();
      s.model.dispose();
    }
  });

  test('float16 updates (decoded to a fresh dense vector) come out of the slots as the event loop decodes them', async () => {
    const s = setup(['good', 'good', 'good'], { encoding: 'float16' });
    const spec = checkSpecOf(s.context);
    const requests: OpenRequest[] = await Promise.all(
      s.sessions.map(async (session, i) => {
        const key = await sharedKey(coordinator.boxPublicKey, identity(i).boxSecretKey);
        const aad = updateContext(s.context.runId, 1, session.clientId);
        const envelope = await seal(encodeTensors(s.model.manifest, deltaOf(i, 1, s.model.numParams), 'float16'), key, aad);
        return { nonce: envelope.nonce, ciphertext: envelope.ciphertext, sharedKey: await session.sharedKey(), associatedData: aad };
      }),
    );
    const pool = new IntakePool(spec, { workers: 1, maxCiphertextBytes: s.context.maxUpdateBytes });
    try {
      for (const r of requests) {
        const a = await pool.open(r);
        const b = await new InThreadOpener(spec).open(r);
        expect(Buffer.from(a.delta.buffer, a.delta.byteOffset, a.delta.byteLength).equals(Buffer.from(b.delta.buffer, b.delta.byteOffset, b.delta.byteLength))).toBe(true);
        a.release();
      }
      // A float32 update in a float16 run is refused in the worker as on the event loop.
      const u = await s.update(0, 1);
      await expect(pool.open({ nonce: u.envelope.nonce, ciphertext: u.envelope.ciphertext, sharedKey: await s.sessions[0]!.sharedKey(), associatedData: updateContext(s.context.runId, 1, s.sessions[0]!.clientId) })).rejects.toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/encoded as float32/),
      });
    } finally {
      await pool.close();
      s.model.dispose();
    }
  });

  test('close refuses the updates still with the workers (internal); the next open starts a worker again', async () => {
    const s = setup(['good']);
    const u = await s.update(0, 1);
    const request: OpenRequest = { nonce: u.envelope.nonce, ciphertext: u.envelope.ciphertext, sharedKey: await s.sessions[0]!.sharedKey(), associatedData: updateContext(s.context.runId, 1, s.sessions[0]!.clientId) };
    const pool = new IntakePool(checkSpecOf(s.context), { workers: 1, maxCiphertextBytes: s.context.maxUpdateBytes });
    try {
      const inFlight = pool.open(request);
      await new Promise((r) => setImmediate(r));
      await pool.close();
      await expect(inFlight).rejects.toMatchObject({ code: 'internal' });
      const again = await pool.open(request);
      expect(again.delta.length).toBe(s.model.numParams);
      again.release();
    } finally {
      await pool.close();
      s.model.dispose();
    }
  });

  test('warm starts every worker before the first update, once; updates opened after it are the ones the event loop opens', async () => {
    const s = setup(['good', 'non_finite']);
    const spec = checkSpecOf(s.context);
    const requests: OpenRequest[] = await Promise.all(
      [0, 1].map(async (i) => {
        const u = await s.update(i, 1);
        return { nonce: u.envelope.nonce, ciphertext: u.envelope.ciphertext, sharedKey: await s.sessions[i]!.sharedKey(), associatedData: updateContext(s.context.runId, 1, s.sessions[i]!.clientId) };
      }),
    );
    const pool = new IntakePool(spec, { workers: 2, maxCiphertextBytes: s.context.maxUpdateBytes });
    try {
      expect(pool.workers).toBe(0);
      await Promise.all([pool.warm(), pool.warm()]);
      expect(pool.workers).toBe(2);
      await pool.warm();
      expect(pool.workers).toBe(2);
      expect(pool.opened).toBe(0);
      const a = await pool.open(requests[0]!);
      const b = await new InThreadOpener(spec).open(requests[0]!);
      expect(Buffer.from(a.delta.buffer, a.delta.byteOffset, a.delta.byteLength).equals(Buffer.from(b.delta.buffer, b.delta.byteOffset, b.delta.byteLength))).toBe(true);
      a.release();
      await expect(pool.open(requests[1]!)).rejects.toMatchObject({ code: 'non_finite' });
      expect(pool.workers).toBe(2);
      // After close, warm starts them again.
      await pool.close();
      expect(pool.workers).toBe(0);
      await pool.warm();
      expect(pool.workers).toBe(2);
    } finally {
      await pool.close();
      s.model.dispose();
    }
  });

  test('worker counts: bad values are refused; the default leaves a core to the event loop', () => {
    const s = setup(['good']);
    const maxCiphertextBytes = s.context.maxUpdateBytes;
    expect(() => new IntakePool(checkSpecOf(s.context), { workers: 0, maxCiphertextBytes })).toThrow(RangeError);
    expect(() => new IntakePool(checkSpecOf(s.context), { workers: 1.5, maxCiphertextBytes })).toThrow(/positive integer/);
    expect(() => new IntakePool(checkSpecOf(s.context), { workers: 1, maxCiphertextBytes: 0 })).toThrow(/max ciphertext bytes/);
    expect([1, 2, 3, 8, 64].map((c) => defaultIntakeWorkers(c))).toEqual([0, 1, 2, 4, 4]);
    s.model.dispose();
  });
});
