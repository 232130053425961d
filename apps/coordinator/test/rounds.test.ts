import nacl from 'tweetnacl';
import { Strategy, WeightedMeanAggregator } from '@fedlink/core';
import { type Identity, clientIdOf, generateIdentity, seal, sharedKey, updateContext } from '@fedlink/crypto';
import { EVENTS, FedlinkError, type RoundStart, type Update, encodeTensors } from '@fedlink/protocol';
import {
  ClientRegistry,
  SecureAggregation,
  DEFAULT_RUN,
  GlobalModel,
  InMemoryRunStore,
  OpenRound,
  RoundEngine,
  RoundRunner,
  RunContext,
  type RunSettings,
  UpdateIntake,
  ensureEvalBackend,
  planRound,
  silentLog,
  type ClientSession,
} from '@fedlink/coordinator';


/**
 * The coordinator's round domain without sockets: fake peers stand in for clients, so the round
 * logic (closing, dropping, draining, the validation chain, the run loop) is tested on its own.
 */

beforeAll(async () => {
  await ensureEvalBackend();
});

function sink() {
  return new WeightedMeanAggregator().begin(3);
}

describe('OpenRound', () => {
  const base = (over: Partial<ConstructorParameters<typeof OpenRound>[0]> = {}) =>
    new OpenRound({ key: { round: 1, attempt: 1 }, selected: ['a', 'b', 'c'], target: 2, startedAt: Date.now(), deadline: Date.now() + 60_000, sink: sink(), autoClose: true, ...over });
  const accept = (o: OpenRound, id: string, n = 1) => {
    o.beginIntake(id);
    o.accept({ clientId: id, delta: [1, 2, 3], numExamples: n, loss: 0.5, bytes: 10 });
    o.endIntake(id);
  };

  test('closes once, at the target, keeping the first reason', async () => {
    const o = base();
    accept(o, 'a');
    expect(o.isClosed).toBe(false);
    accept(o, 'b');
    expect(await o.closed).toBe('target reached');
    o.close('deadline');
    expect(o.closeReason).toBe('target reached');
    expect(o.drop('c')).toBe(false); // nothing changes after close
    expect(o.outcomes()).toEqual([
      { clientId: 'a', outcome: 'reported' },
      { clientId: 'b', outcome: 'reported' },
      { clientId: 'c', outcome: 'dropped' },
    ]);
  });

  test('closes when every selected client answered or dropped, not before an update in flight is in', async () => {
    const o = base({ target: 3 });
    accept(o, 'a');
    expect(o.drop('b')).toBe(true);
    expect(o.drop('b')).toBe(false);
    expect(o.drop('x')).toBe(false); // not selected
    o.beginIntake('c');
    expect(o.drop('c')).toBe(true); // it disconnected while its update was being opened
    expect(o.isClosed).toBe(false);
    o.endIntake('c');
    expect(await o.closed).toBe('all selected clients answered or dropped');
    expect([o.count, o.totalExamples, o.dropped.size]).toEqual([1, 1, 2]);
  });

  test('closes at its deadline; draining waits for the update still being checked', async () => {
    const o = base({ deadline: Date.now() + 30 });
    o.beginIntake('a');
    expect(await o.closed).toBe('deadline');
    let drained = false;
    const d = o.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    o.endIntake('a');
    await d;
    expect(drained).toBe(true);
  });

  test('a secure round never closes by itself: its driver is told of each change', async () => {
    let changes = 0;
    const o = base({ autoClose: false, onChange: () => changes++ });
    o.drop('a');
    o.drop('b');
    o.drop('c');
    expect(o.isClosed).toBe(false);
    expect(changes).toBe(3);
    o.noteRejected('a');
    expect(o.rejected).toBe(1);
    o.close('secure aggregation finished');
    o.noteRejected('b'); // after close: recorded for participation, not counted against the round
    expect(o.rejected).toBe(1);
    expect(await o.closed).toBe('secure aggregation finished');
  });
});

/** A client stand-in: answers round:start by acking, then (optionally) sends a sealed update. */
interface FakeClient {
  identity: Identity;
  session: ClientSession;
  starts: RoundStart[];
  /** What this client does on round:start. */
  behaviour: 'report' | 'refuse' | 'silent';
  numExamples: number;
  delta: (round: number) => Float32Array;
}

interface Rig {
  context: RunContext;
  registry: ClientRegistry;
  engine: RoundEngine;
  store: InMemoryRunStore;
  clients: FakeClient[];
  errors: FedlinkError[];
  /** Where the fake clients send their updates (the engine by default). */
  submit: (session: ClientSession, update: Update) => Promise<void>;
  sealedUpdate(c: FakeClient, round: number, delta: Float32Array): Promise<Update>;
}

function rig(run: Partial<RunSettings>, specs: Pick<FakeClient, 'behaviour' | 'numExamples' | 'delta'>[]): Rig {
  const coordinator = generateIdentity();
  const settings: RunSettings = { ...DEFAULT_RUN, model: 'mlp', rounds: 2, roundTimeoutMs: 5_000, waitTimeoutMs: 5_000, selection: { fraction: 1, minFit: 1, minAvailable: specs.length, overSelect: 0 }, ...run };
  const model = new GlobalModel(settings.model, settings.seed);
  const context = new RunContext('run_test', coordinator, model, settings, 4 * model.numParams + 1024);
  const registry = new ClientRegistry();
  const store = new InMemoryRunStore();
  const errors: FedlinkError[] = [];
  const engine = new RoundEngine({ context, strategy: Strategy.fromSpec(settings.strategy), registry, store, log: silentLog });
  const sealedUpdate = async (c: FakeClient, round: number, delta: Float32Array): Promise<Update> => {
    const key = await sharedKey(coordinator.boxPublicKey, c.identity.boxSecretKey);
    const envelope = await seal(encodeTensors(model.manifest, delta, 'float32'), key, updateContext(context.runId, round, c.session.clientId));
    return { runId: context.runId, round, numExamples: c.numExamples, metrics: { loss: 0.25 }, envelope };
  };
  const out = { submit: (s: ClientSession, u: Update) => engine.submitUpdate(s, u) };
  const clients: FakeClient[] = specs.map((spec, i) => {
    const identity = generateIdentity();
    const c = { ...spec, identity, starts: [] as RoundStart[] } as FakeClient;
    const peer = {
      id: `peer-${i}`,
      address: '127.0.0.1',
      emit: () => undefined,
      request: async (event: string, payload: unknown) => {
        if (event !== EVENTS.roundStart) return { ok: true };
        const start = payload as RoundStart;
        c.starts.push(start);
        if (c.behaviour === 'refuse') return { ok: false, error: { code: 'unsupported', message: 'no' } };
        if (c.behaviour === 'report') {
          setImmediate(() => {
            void sealedUpdate(c, start.round, c.delta(start.round))
              .then((u) => out.submit(c.session, u))
              .catch((e: FedlinkError) => errors.push(e));
          });
        }
        return { ok: true };
      },
      disconnect: () => undefined,
    };
    c.session = registry.add({
      clientId: clientIdOf(identity.signPublicKey),
      peer,
      signPublicKey: identity.signPublicKey,
      boxPublicKey: identity.boxPublicKey,
      // nacl.box.before: the same bytes as sharedKey (packages/crypto tests).
      sharedKey: async () => nacl.box.before(identity.boxPublicKey, coordinator.boxSecretKey),
      numExamples: spec.numExamples,
      platform: 'node',
      backend: 'test',
      joinedAt: Date.now(),
      lastSeen: Date.now(),
    });
    return c;
  });
  return Object.assign(out, { context, registry, engine, store, clients, errors, sealedUpdate });
}

const constant = (n: number, x: number) => new Float32Array(n).fill(x);

describe('RoundEngine with fake peers', () => {
  test('two FedAvg rounds: the global model moves by the exact example-weighted mean; snapshots follow', async () => {
    const n = 199_210;
    const r = rig({}, [
      { behaviour: 'report', numExamples: 10, delta: (round) => constant(n, 0.5 * round) },
      { behaviour: 'report', numExamples: 30, delta: (round) => constant(n, -0.25 * round) },
    ]);
    const w0 = r.context.model.weights.slice();
    const phases: string[] = [];
    r.engine.state.on('snapshot', (s) => phases[phases.length - 1] !== s.phase && phases.push(s.phase));
    const end = await r.engine.run();
    expect(end).toMatchObject({ status: 'finished', rounds: 2 });
    expect(r.errors).toEqual([]);
    const mean1 = (10 * 0.5 + 30 * -0.25) / 40;
    const mean2 = (10 * 1 + 30 * -0.5) / 40;
    const w = r.context.model.weights;
    for (const i of [0, 1, 12_345, n - 1]) expect(Math.abs(w[i]! - (w0[i]! + mean1 + mean2))).toBeLessThan(1e-6);
    expect(r.store.rounds.map((x) => [x.round, x.status, x.reported, x.totalExamples, x.trainLoss])).toEqual([
      [1, 'completed', 2, 40, 0.25],
      [2, 'completed', 2, 40, 0.25],
    ]);
    expect(phases).toEqual(['waiting', 'training', 'aggregating', 'waiting', 'training', 'aggregating', 'finished']);
    expect(r.engine.snapshot()).toMatchObject({ round: 2, openRound: null, result: { status: 'finished' } });
    expect(r.engine.plaintextUpdatesOpened).toBe(4);
    // Each client got its own config object with its own training seed.
    expect(r.clients[0]!.starts[0]!.config).not.toBe(r.clients[1]!.starts[0]!.config);
    expect(r.clients[0]!.starts[0]!.config.seed).not.toBe(r.clients[1]!.starts[0]!.config.seed);
    // The global weights are encoded once a round: every round:start of it carries the same bytes object.
    const [a, b] = r.clients.map((c) => c.starts.map((s) => s.weights));
    expect(a![0]).toBe(b![0]);
    expect(a![1]).toBe(b![1]);
    expect(a![1]).not.toBe(a![0]);
    r.context.model.dispose();
  });

  test('a client that refuses round:start is dropped at once; one that stays silent holds the round to its deadline', async () => {
    const n = 199_210;
    const r = rig({ rounds: 1, roundTimeoutMs: 3_000 }, [
      { behaviour: 'report', numExamples: 5, delta: () => constant(n, 1) },
      { behaviour: 'refuse', numExamples: 5, delta: () => constant(n, 1) },
      { behaviour: 'silent', numExamples: 5, delta: () => constant(n, 1) },
    ]);
    const started = Date.now();
    await r.engine.run();
    const [rec] = r.store.rounds;
    expect(rec).toMatchObject({ status: 'completed', selected: 3, reported: 1, dropped: 1 });
    // Closed by the deadline (the silent client), not before.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    r.context.model.dispose();
  });

  test('below minFit the attempt is abandoned with the model untouched, and retried', async () => {
    const n = 199_210;
    let calls = 0;
    const r = rig({ rounds: 1, maxAbandonedAttempts: 2, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } }, [
      { behaviour: 'report', numExamples: 5, delta: () => constant(n, 1) },
      { behaviour: 'refuse', numExamples: 5, delta: () => (calls++, constant(n, 1)) },
    ]);
    const w0 = r.context.model.weights.slice();
    const end = await r.engine.run();
    expect(end.status).toBe('stopped');
    expect(r.store.rounds.map((x) => [x.round, x.attempt, x.status, x.reason])).toEqual([
      [1, 1, 'abandoned', '1 update(s) by the time all selected clients answered or dropped, minFit is 2'],
      [1, 2, 'abandoned', '1 update(s) by the time all selected clients answered or dropped, minFit is 2'],
    ]);
    expect(calls).toBe(0);
    expect(r.context.model.weights).toEqual(w0);
    r.context.model.dispose();
  });

  test('the validation chain refuses each bad update with its own code and leaves the aggregate alone', async () => {
    const n = 199_210;
    const r = rig({ rounds: 1, roundTimeoutMs: 3_000, maxUpdateNorm: 1000 }, [
      { behaviour: 'silent', numExamples: 5, delta: () => constant(n, 0.01) },
      { behaviour: 'silent', numExamples: 5, delta: () => constant(n, 0.01) },
    ]);
    const [a, b] = r.clients as [FakeClient, FakeClient];
    const done = r.engine.run();
    while (a.starts.length === 0 || b.starts.length === 0) await new Promise((res) => setImmediate(res));
    const code = (p: Promise<unknown>) => p.then(() => 'accepted', (e: FedlinkError) => e.code);
    const good = await r.sealedUpdate(a, 1, constant(n, 0.01));
    expect(await code(r.engine.submitUpdate(a.session, { ...good, runId: 'run_other' }))).toBe('wrong_run');
    expect(await code(r.engine.submitUpdate(a.session, { ...good, round: 2 }))).toBe('wrong_round');
    // More examples than the hello declared (its envelope's nonce is spent by then: the replay link comes first).
    expect(await code(r.engine.submitUpdate(a.session, { ...(await r.sealedUpdate(a, 1, constant(n, 0.01))), numExamples: 6 }))).toBe('bad_request');
    expect(await code(r.engine.submitUpdate(a.session, { round: 1 }))).toBe('bad_request');
    const nan = constant(n, 0.01);
    nan[7] = NaN;
    expect(await code(r.engine.submitUpdate(a.session, await r.sealedUpdate(a, 1, nan)))).toBe('non_finite');
    expect(await code(r.engine.submitUpdate(a.session, await r.sealedUpdate(a, 1, constant(n, 10))))).toBe('norm_exceeded');
    const forged = await r.sealedUpdate(a, 1, constant(n, 0.01));
    expect(await code(r.engine.submitUpdate(b.session, forged))).toBe('decrypt_failed'); // a's envelope, b's connection
    const short = await r.sealedUpdate(a, 1, constant(n, 0.01));
    expect(await code(r.engine.submitUpdate(a.session, { ...short, envelope: { ...short.envelope, ciphertext: short.envelope.ciphertext.subarray(0, 100) } }))).toBe('decrypt_failed');
    expect(await code(r.engine.submitUpdate(a.session, good))).toBe('accepted');
    expect(await code(r.engine.submitUpdate(a.session, good))).toBe('replay');
    expect(await code(r.engine.submitUpdate(a.session, await r.sealedUpdate(a, 1, constant(n, 0.01))))).toBe('duplicate');
    expect(r.engine.snapshot().openRound).toMatchObject({ round: 1, reported: 1, rejected: 10 });
    r.engine.withdraw(b.session, { runId: r.context.runId, round: 1, reason: 'battery low' });
    await done;
    expect(r.store.rounds[0]).toMatchObject({ status: 'completed', reported: 1, dropped: 1, rejected: 10, totalExamples: 5 });
    expect(await code(r.engine.submitUpdate(b.session, await r.sealedUpdate(b, 1, constant(n, 0.01))))).toBe('stale');
    r.context.model.dispose();
  });
  test("a withdrawal names its attempt: one from an abandoned attempt leaves the retry alone, one from the open attempt drops the client", async () => {
    const n = 199_210;
    const r = rig({ rounds: 1, roundTimeoutMs: 1_000, maxAbandonedAttempts: 3, selection: { fraction: 1, minFit: 2, minAvailable: 3, overSelect: 0 } }, [
      { behaviour: 'silent', numExamples: 5, delta: () => constant(n, 0.01) },
      { behaviour: 'silent', numExamples: 7, delta: () => constant(n, 0.01) },
      { behaviour: 'silent', numExamples: 9, delta: () => constant(n, 0.01) },
    ]);
    const [a, b, c] = r.clients as [FakeClient, FakeClient, FakeClient];
    const done = r.engine.run();
    // Attempt 1 gets nothing and is abandoned at its deadline; wait for attempt 2's round:start.
    while (!r.clients.every((x) => x.starts.some((s) => s.attempt === 2))) await new Promise((res) => setTimeout(res, 5));
    const runId = r.context.runId;
    // b's refusal from attempt 1 arrives late, in attempt 2: b stays selected.
    r.engine.withdraw(b.session, { runId, round: 1, attempt: 1, reason: 'update refused in attempt 1' });
    expect(r.engine.snapshot().openRound).toMatchObject({ round: 1, attempt: 2, dropped: 0 });
    await r.engine.submitUpdate(a.session, await r.sealedUpdate(a, 1, constant(n, 0.01)));
    await r.engine.submitUpdate(b.session, await r.sealedUpdate(b, 1, constant(n, 0.02)));
    // c leaves the attempt it is in: dropped, and the attempt closes with every selected client answered.
    r.engine.withdraw(c.session, { runId, round: 1, attempt: 2, reason: 'battery low' });
    await done;
    expect(r.store.rounds.map((x) => [x.round, x.attempt, x.status, x.reported, x.dropped, x.totalExamples])).toEqual([
      [1, 1, 'abandoned', 0, 0, 0],
      [1, 2, 'completed', 2, 1, 12],
    ]);
    r.context.model.dispose();
  });
});

test('runRound is callable by another driver: it collects into any aggregate and applies nothing', async () => {
  const n = 199_210;
  const r = rig({ rounds: 1 }, [
    { behaviour: 'report', numExamples: 2, delta: () => constant(n, 3) },
    { behaviour: 'report', numExamples: 6, delta: () => constant(n, -1) },
  ]);
  const w0 = r.context.model.weights.slice();
  // An edge aggregator's use: a plain weighted mean to report upstream, no server optimizer.
  const runner = new RoundRunner({ context: r.context, registry: r.registry, secure: new SecureAggregation(r.registry, silentLog), log: silentLog, onOpened: () => undefined, onChanged: () => undefined });
  const intake = new UpdateIntake(r.context, () => undefined);
  r.submit = (s, u) => intake.receive(s, u, { completedRound: 0, open: runner.current });
  const aggregate = new WeightedMeanAggregator().begin(n);
  const plan = planRound(r.context.settings, { round: 1, attempt: 1 }, r.registry.ids());
  const { open } = await runner.runRound({ plan, weights: r.context.model.encodedWeights(), aggregate, signal: new AbortController().signal });
  expect(open.closeReason).toBe('target reached');
  const result = aggregate.finish();
  expect([result.count, result.totalExamples]).toEqual([2, 8]);
  expect(result.meanDelta[0]).toBeCloseTo((2 * 3 + 6 * -1) / 8, 7);
  expect(r.context.model.weights).toEqual(w0);
  expect(open.bytesIn).toBeGreaterThan(8 * n);
  r.context.model.dispose();
});
