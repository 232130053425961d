import { FedlinkClient, UpdateEncoder } from '@fedlink/client';
import { gather, residualAfterSparse, topKIndices, withResidual } from '@fedlink/core';
import { EVENTS, type TensorSpec, decodeTensors, encodeSparse, encodeTensors, numElements, topkKept } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { RawClient } from '../helpers/raw-client.js';

const examples = [100, 300, 600];
const ROUNDS = 2;

/** Three real clients over loopback send known deltas in the run's encoding; returns the run's weights and what each client trained from. */
async function runWith(run: { encoding: 'topk' | 'sq8'; topkFraction?: number }) {
  const coord = await startTestCoordinator({ rounds: ROUNDS, selection: { fraction: 1, minFit: 3, minAvailable: 3, overSelect: 0 }, ...run });
  try {
    const initial = coord.context.model.weights.slice();
    const n = initial.length;
    const deltas = [1, 2, 3].map((k) => [testVector(n, k * 11), testVector(n, k * 13, 0.05)]);
    const trainers = examples.map((count, i) => new FixedDeltaTrainer(count, (round) => deltas[i]![round - 1]!));
    const clients = trainers.map((trainer, i) => new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: coord.fingerprint, name: `c${i}` }));
    const welcomes: unknown[] = [];
    clients.forEach((c) => c.on('welcome', (w) => welcomes.push(w)));
    const runs = clients.map((c) => c.run());
    const end = await coord.done;
    await Promise.all(runs);
    expect(end.status).toBe('finished');
    const rounds = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; reported: number; bytesIn: number }[] };
    return { initial, deltas, trainers, manifest: coord.context.model.manifest, weights: coord.context.model.weights.slice(), rounds: rounds.rounds, welcomes };
  } finally {
    await coord.cleanup();
  }
}

/** w_r = w_{r-1} + sum_i n_i d_i / sum_i n_i over the vectors the coordinator should have decoded, in float64. */
function fedavg(initial: Float32Array, sent: Float32Array[][]): Float64Array {
  const total = examples.reduce((a, b) => a + b, 0);
  const w = Float64Array.from(initial);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < w.length; j++) {
      let s = 0;
      for (let i = 0; i < examples.length; i++) s += examples[i]! * sent[i]![r]![j]!;
      w[j] = Math.fround(w[j]! + s / total);
    }
  }
  return w;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('topk with error feedback: the global model is FedAvg of exactly what each client sent (residual carried into round 2)', async () => {
  const fraction = 0.05;
  const r = await runWith({ encoding: 'topk', topkFraction: fraction });
  expect(r.welcomes).toEqual(expect.arrayContaining([expect.objectContaining({ encoding: 'topk', topkFraction: fraction })]));
  // Independent reference: per tensor, the ceil(5%) largest of delta + residual; the residual keeps the rest.
  const sent = r.deltas.map((rounds) => {
    let residual: Float32Array | undefined;
    return rounds.map((d) => {
      const corrected = withResidual(d, residual);
      const dense = new Float32Array(d.length);
      const all: number[] = [];
      let off = 0;
      for (const t of r.manifest) {
        const n = numElements(t.shape);
        const part = corrected.subarray(off, off + n);
        const ix = topKIndices(part, topkKept(n, fraction));
        gather(part, ix).forEach((v, j) => (dense[off + ix[j]!] = v));
        ix.forEach((i) => all.push(off + i));
        off += n;
      }
      residual = residualAfterSparse(corrected, Uint32Array.from(all));
      return dense;
    });
  });
  expect(maxAbsDiff(r.weights, fedavg(r.initial, sent))).toBeLessThanOrEqual(1e-6);
  // Without the residual, round 2 would differ: the test can tell error feedback from none.
  const noFeedback = r.deltas.map((rounds) => rounds.map((d) => decodeTensors(new UpdateEncoder().encode(r.manifest, d, { encoding: 'topk', topkFraction: fraction, seed: 0 }).bytes, r.manifest).flat));
  expect(maxAbsDiff(r.weights, fedavg(r.initial, noFeedback))).toBeGreaterThan(1e-4);
  // 8 bytes per kept entry: about 5% x 8 / 4 = 10% of float32's bytes.
  const float32Bytes = 3 * 4 * r.initial.length;
  for (const round of r.rounds) {
    expect(round).toMatchObject({ status: 'completed', reported: 3 });
    expect(round.bytesIn).toBeLessThan(0.11 * float32Bytes);
  }
}, 120_000);

test('sq8: the global model is FedAvg of the stochastically rounded deltas each client sent', async () => {
  const r = await runWith({ encoding: 'sq8' });
  // What each client sent: its own encoder at the round's training seed (the client's test covers the encoder).
  const sent = r.deltas.map((rounds, i) => rounds.map((d, k) => decodeTensors(new UpdateEncoder().encode(r.manifest, d, { encoding: 'sq8', seed: r.trainers[i]!.seenConfigs[k]!.seed }).bytes, r.manifest).flat));
  expect(maxAbsDiff(r.weights, fedavg(r.initial, sent))).toBeLessThanOrEqual(1e-6);
  expect(maxAbsDiff(r.weights, fedavg(r.initial, r.deltas))).toBeGreaterThan(0); // it is quantised...
  expect(maxAbsDiff(r.weights, fedavg(r.initial, r.deltas))).toBeLessThanOrEqual((2 * 0.05) / 255 * ROUNDS); // ...within a step a round
  for (const round of r.rounds) expect(round.bytesIn).toBeLessThan(0.27 * 3 * 4 * r.initial.length);
}, 120_000);

test('at intake: an update in another encoding or with bad sparse indices is refused with a typed error, and the round completes', async () => {
  const coord = await startTestCoordinator({ rounds: 1, encoding: 'topk', topkFraction: 0.5, selection: { fraction: 1, minFit: 1, minAvailable: 2, overSelect: 0 } });
  const raw = await RawClient.connect(coord.url);
  try {
    await raw.join(TEST_TOKEN);
    const good = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(50, (_r, n) => testVector(n, 5)), platform: 'node', backend: 'test', serverFingerprint: coord.fingerprint });
    const running = good.run();
    const start = await raw.nextRoundStart();
    const manifest: TensorSpec[] = raw.welcome!.model.manifest;
    const n = raw.welcome!.model.numParams;
    // int8 fits under the size limit of 50% top-k (8 bytes per kept entry), so the encoding check is what refuses it.
    const dense = await raw.request(EVENTS.update, await raw.update(start.round, new Float32Array(0), { payload: encodeTensors(manifest, testVector(n, 9), 'int8') }));
    expect(dense).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('int8') } });
    const sparse = manifest.map(() => ({ indices: Uint32Array.from([0, 1]), values: Float32Array.from([0.1, 0.2]) }));
    const bytes = encodeSparse(manifest, sparse);
    // Make the second index of the first tensor 0 again: not strictly ascending.
    const view = new DataView(bytes.buffer);
    view.setUint32(((8 + view.getUint32(4, true) + 3) & ~3) + 4, 0, true);
    const bad = await raw.request(EVENTS.update, await raw.update(start.round, new Float32Array(0), { payload: bytes }));
    expect(bad).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('ascending') } });
    // The raw client gives up its place, so the round closes on the good client's update.
    expect(await raw.request(EVENTS.withdraw, { runId: raw.welcome!.runId, round: start.round, reason: 'test done' })).toMatchObject({ ok: true });
    const end = await coord.done;
    await running;
    expect(end.status).toBe('finished');
    const rounds = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; reported: number }[] };
    expect(rounds.rounds).toEqual([expect.objectContaining({ status: 'completed', reported: 1 })]);
  } finally {
    raw.close();
    await coord.cleanup();
  }
}, 120_000);
