import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createModel, evaluate, getFlatWeights, setFlatWeights, subset, trainLocal, weightManifest, countParams } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

test('the paper models have the paper parameter counts and stable weight names', () => {
  const mlp = createModel('mlp', { seed: 1 });
  const cnn = createModel('cnn', { seed: 1 });
  expect(countParams(weightManifest(mlp))).toBe(199_210);
  expect(countParams(weightManifest(cnn))).toBe(1_663_370);
  expect(weightManifest(cnn).map((w) => w.name)).toEqual([
    'conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias', 'fc1/kernel', 'fc1/bias', 'logits/kernel', 'logits/bias',
  ]);
  // Same seed, same initial weights (the run's initial global model is reproducible).
  expect(Buffer.from(getFlatWeights(createModel('mlp', { seed: 1 })).buffer).equals(Buffer.from(getFlatWeights(mlp).buffer))).toBe(true);
  mlp.dispose();
  cnn.dispose();
});

test('local SGD on real MNIST learns, is deterministic per seed, and leaks no tensors', async () => {
  const { train, test } = await loadMnistPackage();
  const small = subset(train, Array.from({ length: 1000 }, (_, i) => i));
  const model = createModel('mlp', { seed: 2 });
  const start = getFlatWeights(model);
  const before = await evaluate(model, test);
  const tensors = tf.memory().numTensors;
  const config = { epochs: 2, batchSize: 20, learningRate: 0.1, proximalMu: 0, seed: 5 };
  const r = await trainLocal(model, small, config);
  expect(tf.memory().numTensors).toBe(tensors);
  const after = await evaluate(model, test);
  expect(before.accuracy).toBeLessThan(0.3);
  expect(after.accuracy).toBeGreaterThan(0.8);
  expect(r.numExamples).toBe(1000);
  const first = getFlatWeights(model);
  setFlatWeights(model, start);
  await trainLocal(model, small, config);
  expect(Buffer.from(getFlatWeights(model).buffer).equals(Buffer.from(first.buffer))).toBe(true);
  model.dispose();
});

test('FedProx keeps local weights closer to the global model', async () => {
  const { train } = await loadMnistPackage();
  const small = subset(train, Array.from({ length: 300 }, (_, i) => i));
  const drift = async (mu: number) => {
    const m = createModel('mlp', { seed: 3 });
    const w0 = getFlatWeights(m);
    await trainLocal(m, small, { epochs: 2, batchSize: 10, learningRate: 0.1, proximalMu: mu, seed: 1 });
    const w1 = getFlatWeights(m);
    m.dispose();
    let s = 0;
    for (let i = 0; i < w0.length; i++) s += (w1[i]! - w0[i]!) ** 2;
    return Math.sqrt(s);
  };
  expect(await drift(1)).toBeLessThan(0.8 * (await drift(0)));
});

test('stopping early is reported as TrainingStopped, with nothing leaked', async () => {
  const { train } = await loadMnistPackage();
  const model = createModel('mlp', { seed: 4 });
  const tensors = tf.memory().numTensors;
  let batches = 0;
  await expect(
    trainLocal(model, subset(train, Array.from({ length: 200 }, (_, i) => i)), { epochs: 1, batchSize: 10, learningRate: 0.1, proximalMu: 0.5, seed: 1 }, {
      onBatch: () => batches++,
      shouldStop: () => batches >= 3,
    }),
  ).rejects.toThrow(/stopped/);
  expect(tf.memory().numTensors).toBe(tensors);
  model.dispose();
});

test('SCAFFOLD: each step adds -lr (c - c_i) to the SGD step, K counts the steps, no tensor leaks', async () => {
  const { train } = await loadMnistPackage();
  const ten = subset(train, Array.from({ length: 10 }, (_, i) => i));
  const config = { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: 0, seed: 4 };
  const model = createModel('mlp', { seed: 6 });
  const w0 = getFlatWeights(model);
  // One step: the gradient is taken at w0 either way, so the corrected step differs by exactly -lr * correction.
  const plain = await trainLocal(model, ten, config);
  const yPlain = getFlatWeights(model);
  const correction = Float32Array.from({ length: w0.length }, (_, i) => ((i * 7919) % 200) / 1000 - 0.1);
  setFlatWeights(model, w0);
  const tensors = tf.memory().numTensors;
  const corrected = await trainLocal(model, ten, { ...config, correction });
  expect(tf.memory().numTensors).toBe(tensors);
  const yCorr = getFlatWeights(model);
  let worst = 0;
  for (let i = 0; i < w0.length; i++) worst = Math.max(worst, Math.abs(yCorr[i]! - yPlain[i]! + config.learningRate * correction[i]!));
  expect(worst).toBeLessThanOrEqual(1e-6);
  expect([plain.steps, corrected.steps]).toEqual([1, 1]);
  // K = batches x epochs.
  const twenty = subset(train, Array.from({ length: 20 }, (_, i) => i));
  expect((await trainLocal(model, twenty, { ...config, epochs: 2, correction })).steps).toBe(4);
  // A correction for another model is refused before any step.
  await expect(trainLocal(model, ten, { ...config, correction: new Float32Array(5) })).rejects.toThrow(RangeError);
  model.dispose();
});
