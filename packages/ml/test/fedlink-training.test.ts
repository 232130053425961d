/**
 * Training with fedlink reaches the accuracy the cpu backend reaches: same model, seed,
 * data and schedule (model.fit, no shuffling), real MNIST digits. Float32 kernels sum in a
 * different order than cpu's, so the runs are close, not bit-identical.
 * Tolerances: test accuracy within 2 percentage points, final loss within 2% (relative).
 */
import * as tf from '@tensorflow/tfjs';
import { kernelCallCounts } from '@fedlink/ml/node';
import { disposeFedlink, initFedlink } from './helpers/backends.js';
import { mnistSubset } from './helpers/mnist-subset.js';

const trainSet = mnistSubset(0, 25); // 250 images
const testSet = mnistSubset(500, 20); // 200 other images

/**
 * A small CNN with the paper CNN's layer types (conv/relu/maxpool/conv/dense) and both
 * strides and paddings. Small because the stock cpu conv gradients are slow (and slower
 * still under Jest).
 */
function smallCnn(seed: number): tf.Sequential {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

interface Run {
  accuracy: number;
  losses: number[];
}

async function trainOn(backend: string): Promise<Run> {
  await tf.setBackend(backend);
  const model = smallCnn(7);
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  const x = tf.tensor4d(trainSet.x, [trainSet.n, 28, 28, 1]);
  const y = tf.tensor2d(trainSet.y, [trainSet.n, 10]);
  const history = await model.fit(x, y, { epochs: 4, batchSize: 10, shuffle: false, verbose: 0 });
  const tx = tf.tensor4d(testSet.x, [testSet.n, 28, 28, 1]);
  const predicted = tf.tidy(() => (model.predict(tx) as tf.Tensor).argMax(1).dataSync());
  const correct = testSet.labels.filter((label, i) => predicted[i] === label).length;
  tf.dispose([x, y, tx]);
  model.dispose();
  return { accuracy: correct / testSet.n, losses: history.history.loss as number[] };
}

beforeAll(initFedlink);
afterAll(disposeFedlink);

test('fedlink trains a CNN to the accuracy cpu reaches (same seed and data)', async () => {
  const cpu = await trainOn('cpu');
  const before = kernelCallCounts();
  const fedlink = await trainOn('fedlink');
  const after = kernelCallCounts();
  console.log(
    `cpu: accuracy ${cpu.accuracy.toFixed(3)} losses ${cpu.losses.map((l) => l.toFixed(4)).join(' ')}\n` +
      `fedlink: accuracy ${fedlink.accuracy.toFixed(3)} losses ${fedlink.losses.map((l) => l.toFixed(4)).join(' ')}`,
  );
  expect(cpu.accuracy).toBeGreaterThan(0.6); // it learned something, so the comparison means something
  expect(Math.abs(fedlink.accuracy - cpu.accuracy)).toBeLessThanOrEqual(0.02);
  const lastCpu = cpu.losses[cpu.losses.length - 1]!;
  const lastFed = fedlink.losses[fedlink.losses.length - 1]!;
  expect(Math.abs(lastFed - lastCpu) / lastCpu).toBeLessThanOrEqual(0.02);
  // The run went through the wasm kernels, not the cpu fallbacks.
  for (const k of ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad']) {
    expect(after[k]!.fast).toBeGreaterThan(before[k]!.fast);
    expect(after[k]!.fallback).toBe(before[k]!.fallback);
  }
});
