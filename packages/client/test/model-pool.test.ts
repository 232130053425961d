import * as tf from '@tensorflow/tfjs';
import { ModelPool, TfjsTrainer } from '@fedlink/client';
import { createModel, getFlatWeights, modelTopology, weightManifest, countParams, type ImageDataset } from '@fedlink/ml';
import type { TrainConfig, Welcome } from '@fedlink/protocol';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const reference = createModel('mlp', { seed: 3 });
const manifest = weightManifest(reference);
const welcome = {
  model: { name: 'mlp', topology: modelTopology(reference), manifest, numParams: countParams(manifest) },
} as unknown as Welcome;
const global = getFlatWeights(reference);
afterAll(() => reference.dispose());

function dataset(seed: number, count = 20): ImageDataset {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return { images: Float32Array.from({ length: count * 784 }, next), labels: Uint8Array.from({ length: count }, () => Math.floor(next() * 10)), count, height: 28, width: 28, channels: 1, numClasses: 10 };
}
const config: TrainConfig = { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: 0, seed: 7 };

test('pooled trainers train exactly as trainers with their own model; idle ones hold none, the pool holds as many as ran at once', async () => {
  const pool = new ModelPool();
  const datas = [dataset(1), dataset(2), dataset(3)];
  const pooled = datas.map((d) => new TfjsTrainer(d, { pool }));
  const own = datas.map((d) => new TfjsTrainer(d));
  // Many clients joining at once: one model is built to check them all.
  await Promise.all(pooled.map((t) => t.prepare(welcome)));
  expect(pool.size).toBe(1);
  await Promise.all(own.map((t) => t.prepare(welcome)));
  // One at a time: the same model serves each client in turn, and is fully overwritten by the next.
  for (let i = 0; i < 3; i++) {
    const a = await pooled[i]!.fit(global, config);
    const b = await own[i]!.fit(global, config);
    expect(Array.from(a.delta)).toEqual(Array.from(b.delta));
    expect(a.metrics.loss).toBe(b.metrics.loss);
  }
  expect(pool.size).toBe(1);
  // Three fits at once: three models, and still the same results.
  const together = await Promise.all(pooled.map((t) => t.fit(global, config)));
  expect(pool.size).toBe(3);
  for (let i = 0; i < 3; i++) expect(Array.from(together[i]!.delta)).toEqual(Array.from((await own[i]!.fit(global, config)).delta));
  own.forEach((t) => t.dispose());
  const before = tf.memory().numTensors;
  pool.dispose();
  expect(tf.memory().numTensors).toBeLessThan(before);
  expect(pool.size).toBe(0);
}, 120_000);

test('a pool asked for another topology drops the models of the old one', async () => {
  const pool = new ModelPool();
  const m = await pool.acquire(welcome.model.topology);
  pool.release(m);
  const other = createModel('mlp', { seed: 3, numClasses: 5 });
  const n = tf.memory().numTensors;
  const fresh = await pool.acquire(modelTopology(other));
  expect(fresh).not.toBe(m);
  expect(pool.size).toBe(1);
  expect(tf.memory().numTensors).toBe(n); // the old model's weights went, the new one's came (same count)
  pool.release(fresh);
  pool.dispose();
  other.dispose();
});
