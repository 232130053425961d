import { FedlinkClient, type FedlinkClientOptions } from '@fedlink/client';
import type { RoundRecord } from '@fedlink/coordinator';
import { EVENTS } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { RawClient } from '../helpers/raw-client.js';
// The simulator's fault injection (moved out of the client in issue 9).
import { type FaultPlan, type VanishPoint, faultyClient } from '@fedlink/cli';

/** Clients with known deltas; `vanish[i]` makes client i drop out of round 1 at that point. */
async function secureRun(n: number, vanish: Record<number, VanishPoint> = {}) {
  const coord = await startTestCoordinator({
    rounds: 1,
    secureAggregation: true,
    roundTimeoutMs: 60_000,
    secaggStageTimeoutMs: 20_000,
    selection: { fraction: 1, minFit: 2, minAvailable: n, overSelect: 0 },
  });
  const size = coord.context.model.numParams;
  const examples = Array.from({ length: n }, (_, i) => 50 + 37 * i);
  const deltas = examples.map((_, i) => testVector(size, 100 + i, 0.05));
  const clients = examples.map((count, i) => {
    const faults: FaultPlan | undefined = vanish[i] ? { vanishPoint: (round) => (round === 1 ? vanish[i] : undefined) } : undefined;
    const options: FedlinkClientOptions = {
      url: coord.url,
      token: TEST_TOKEN,
      trainer: new FixedDeltaTrainer(count, () => deltas[i]!),
      platform: 'node',
      backend: 'test',
    };
    return faults ? faultyClient(options, faults) : new FedlinkClient(options);
  });
  const initial = coord.context.model.weights.slice();
  const ended = new Promise<RoundRecord>((resolve) => coord.engine.once('roundEnded', resolve));
  const runs = clients.map((c) => c.run().catch(() => undefined));
  const record = await ended;
  return { coord, clients, runs, record, initial, examples, deltas, size };
}

function expectedMean(initial: Float32Array, deltas: Float32Array[], examples: number[], who: number[]): Float64Array {
  const total = who.reduce((s, i) => s + examples[i]!, 0);
  const out = Float64Array.from(initial);
  for (let j = 0; j < out.length; j++) {
    let s = 0;
    for (const i of who) s += examples[i]! * deltas[i]![j]!;
    out[j] = out[j]! + s / total;
  }
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

// Quantisation error bound of the mean (docs/SECURITY.md): m*C/(2^31-1-m) with C = 1, far below this.
const TOLERANCE = 1e-6;

test('10 clients: the coordinator computes the weighted mean from masked inputs, never opening an update', async () => {
  const r = await secureRun(10);
  try {
    expect(r.record.status).toBe('completed');
    expect(r.record.reported).toBe(10);
    const all = Array.from({ length: 10 }, (_, i) => i);
    expect(maxDiff(r.coord.context.model.weights, expectedMean(r.initial, r.deltas, r.examples, all))).toBeLessThan(TOLERANCE);
    // The only place the coordinator decrypts an individual update was never reached.
    expect(r.coord.engine.plaintextUpdatesOpened).toBe(0);
    expect(r.record.bytesIn).toBe(10 * 4 * (r.size + 1));
    await r.coord.done;
  } finally {
    r.clients.forEach((c) => c.stop());
    await r.coord.cleanup();
  }
});

test('clients that drop after training are left out exactly', async () => {
  const r = await secureRun(10, { 2: 'after-training', 5: 'after-training', 7: 'after-training' });
  try {
    expect(r.record.status).toBe('completed');
    expect(r.record.reported).toBe(7);
    const survivors = [0, 1, 3, 4, 6, 8, 9];
    expect(maxDiff(r.coord.context.model.weights, expectedMean(r.initial, r.deltas, r.examples, survivors))).toBeLessThan(TOLERANCE);
    expect(r.coord.engine.plaintextUpdatesOpened).toBe(0);
  } finally {
    r.clients.forEach((c) => c.stop());
    await r.coord.cleanup();
  }
});

test('too few clients left: the round is abandoned with the reason and the model is untouched', async () => {
  const vanish: Record<number, VanishPoint> = {};
  for (const i of [0, 1, 2, 3, 4]) vanish[i] = 'advertise';
  const r = await secureRun(6, vanish);
  try {
    expect(r.record.status).toBe('abandoned');
    expect(r.record.reason).toMatch(/secure aggregation aborted \(too_few_/);
    expect(maxDiff(r.coord.context.model.weights, r.initial)).toBe(0);
  } finally {
    r.clients.forEach((c) => c.stop());
    await r.coord.cleanup();
  }
});

test('in secure mode a sealed plaintext update is refused before it is opened', async () => {
  const coord = await startTestCoordinator({ rounds: 1, secureAggregation: true, selection: { fraction: 1, minFit: 2, minAvailable: 5, overSelect: 0 } });
  const raw = await RawClient.connect(coord.url);
  try {
    await raw.join(TEST_TOKEN);
    const reply = await raw.request(EVENTS.update, await raw.update(1, new Float32Array(coord.context.model.numParams)));
    expect(!reply.ok && reply.error.code).toBe('bad_request');
    expect(!reply.ok && reply.error.message).toMatch(/secure aggregation/);
    expect(coord.engine.plaintextUpdatesOpened).toBe(0);
  } finally {
    raw.close();
    await coord.cleanup();
  }
});
