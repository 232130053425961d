import nacl from 'tweetnacl';
import { WeightedMeanAggregator } from '@fedlink/core';
import { clientIdOf, generateIdentity } from '@fedlink/crypto';
import { EVENTS, type RoundStart } from '@fedlink/protocol';
import { ClientRegistry, DEFAULT_RUN, GlobalModel, RoundRunner, RunContext, SecureAggregation, StartPacer, planRound, silentLog } from '@fedlink/coordinator';

const deferred = () => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<unknown>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
};
const flush = () => new Promise((r) => setImmediate(r));

describe('StartPacer', () => {
  test('keeps at most the budget in flight; each settle (ack, refusal, timeout) lets the next one go, in order', async () => {
    const pacer = new StartPacer(250);
    const started: number[] = [];
    const acks = Array.from({ length: 5 }, () => deferred());
    acks.forEach((d, i) => pacer.submit(100, () => (started.push(i), d.promise)));
    expect(started).toEqual([0, 1]);
    expect([pacer.bytesInFlight, pacer.waiting]).toEqual([200, 3]);
    acks[1]!.resolve({ ok: true });
    await flush();
    expect(started).toEqual([0, 1, 2]);
    acks[0]!.reject(new Error('timeout'));
    await flush();
    expect(started).toEqual([0, 1, 2, 3]);
    acks[2]!.resolve({ ok: false });
    acks[3]!.resolve({ ok: true });
    await flush();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    acks[4]!.resolve({ ok: true });
    await flush();
    expect([pacer.bytesInFlight, pacer.waiting]).toEqual([0, 0]);
  });

  test('a message larger than the budget still goes when nothing else is in flight; a send that throws frees its room', async () => {
    const pacer = new StartPacer(10);
    const started: string[] = [];
    const big = deferred();
    pacer.submit(50, () => (started.push('big'), big.promise));
    pacer.submit(5, () => {
      started.push('throws');
      throw new Error('socket gone');
    });
    pacer.submit(5, () => (started.push('small'), Promise.resolve()));
    expect(started).toEqual(['big']);
    big.resolve(undefined);
    await flush();
    expect(started).toEqual(['big', 'throws', 'small']);
    expect(() => new StartPacer(0)).toThrow(RangeError);
  });
});

test('RoundRunner paces round:start by acks, and a round that closed sends no more of them', async () => {
  const settings = { ...DEFAULT_RUN, model: 'mlp' as const, rounds: 1, roundTimeoutMs: 5_000, selection: { fraction: 1, minFit: 1, minAvailable: 5, overSelect: 0 } };
  const model = new GlobalModel('mlp', 1);
  const server = generateIdentity();
  const context = new RunContext('run_pace', server, model, settings, 4 * model.numParams + 1024);
  const registry = new ClientRegistry();
  const weights = model.encodedWeights();
  const sent: { clientId: string; ack: ReturnType<typeof deferred>; msg: RoundStart }[] = [];
  for (let i = 0; i < 5; i++) {
    const identity = generateIdentity();
    const clientId = clientIdOf(identity.signPublicKey);
    registry.add({
      clientId,
      peer: {
        id: `peer-${i}`,
        address: '127.0.0.1',
        emit: () => undefined,
        request: (event: string, payload: unknown) => {
          if (event !== EVENTS.roundStart) return Promise.resolve({ ok: true });
          const ack = deferred();
          sent.push({ clientId, ack, msg: payload as RoundStart });
          return ack.promise;
        },
        disconnect: () => undefined,
      },
      signPublicKey: identity.signPublicKey,
      boxPublicKey: identity.boxPublicKey,
      sharedKey: async () => nacl.box.before(identity.boxPublicKey, server.boxSecretKey),
      numExamples: 10,
      platform: 'node',
      backend: 'test',
      joinedAt: Date.now(),
      lastSeen: Date.now(),
    });
  }
  // Room for two round:starts in flight.
  const runner = new RoundRunner({ context, registry, secure: new SecureAggregation(registry, silentLog), log: silentLog, onOpened: () => undefined, onChanged: () => undefined, startBudgetBytes: 2.5 * weights.length });
  const aggregate = new WeightedMeanAggregator().begin(model.numParams);
  const plan = planRound(settings, { round: 1, attempt: 1 }, registry.ids());
  const controller = new AbortController();
  const collected = runner.runRound({ plan, weights, aggregate, signal: controller.signal });
  await flush();
  expect(sent.length).toBe(2);
  expect(runner.current!.bytesOut).toBe(2 * weights.length);
  sent[0]!.ack.resolve({ ok: true });
  await flush();
  expect(sent.length).toBe(3);
  // A refusal drops that client and frees its room as well.
  sent[1]!.ack.resolve({ ok: false, error: { code: 'unsupported', message: 'no' } });
  await flush();
  expect(sent.length).toBe(4);
  expect(runner.current!.isDropped(sent[1]!.clientId)).toBe(true);
  // The round closes (here: aborted) with one send still waiting: it is never sent.
  controller.abort('test over');
  sent[2]!.ack.resolve({ ok: true });
  sent[3]!.ack.resolve({ ok: true });
  const { open } = await collected;
  await flush();
  expect(open.closeReason).toBe('test over');
  expect(sent.length).toBe(4);
  expect(open.bytesOut).toBe(4 * weights.length);
  expect(new Set(sent.map((s) => s.clientId)).size).toBe(4);
  model.dispose();
});
