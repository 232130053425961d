/**
 * The native backend trains: the same small CNN, seed, data and schedule as the fedlink training
 * test (but 8 first-layer filters, so the direct convolution path runs) reaches the cpu backend's
 * accuracy (within 2 points, final loss within 2%), through the C++ kernels; and 2,000 MLP steps
 * (100 CNN steps; tfjs's SGD, the fused update, and the fused step) leave the tensor count, the shared-memory heap and
 * the addon's scratch memory where the warm-up left them (with two kernel threads, the CNN's
 * scratch within one more thread's worth: see the test). Skipped, saying so, without the addon.
 */
import * as tf from '@tensorflow/tfjs';
import { createModel, fusedSgdStep, fusedStackOf, initBackend, sgdOptimizer, type ModelName } from '@fedlink/ml';
import { BackendNative, kernelCallCounts } from '@fedlink/ml/node';
import { loadNative } from '@fedlink/native';
import { randomValues } from './helpers/backends.js';
import { mnistSubset } from './helpers/mnist-subset.js';

const addon = loadNative();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log('native addon not built here: native training tests skipped');

beforeAll(async () => {
  if (addon) expect((await initBackend('native', { threads: 2 })).name).toBe('native');
});

function smallCnn(seed: number): tf.Sequential {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init() }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

async function trainOn(backend: string): Promise<{ accuracy: number; losses: number[] }> {
  await tf.setBackend(backend);
  const trainSet = mnistSubset(0, 25);
  const testSet = mnistSubset(500, 20);
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

maybe('native backend', () => {
  test('trains a CNN to the accuracy cpu reaches (same seed and data), through the C++ kernels', async () => {
    const cpu = await trainOn('cpu');
    const before = kernelCallCounts('native');
    const native = await trainOn('native');
    const after = kernelCallCounts('native');
    console.log(
      `cpu: accuracy ${cpu.accuracy.toFixed(3)} losses ${cpu.losses.map((l) => l.toFixed(4)).join(' ')}\n` +
        `native: accuracy ${native.accuracy.toFixed(3)} losses ${native.losses.map((l) => l.toFixed(4)).join(' ')}`,
    );
    expect(cpu.accuracy).toBeGreaterThan(0.6);
    expect(Math.abs(native.accuracy - cpu.accuracy)).toBeLessThanOrEqual(0.02);
    const lastCpu = cpu.losses[cpu.losses.length - 1]!;
    const lastNative = native.losses[native.losses.length - 1]!;
    expect(Math.abs(lastNative - lastCpu) / lastCpu).toBeLessThanOrEqual(0.02);
    for (const k of ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPool', 'MaxPoolGrad', 'BatchMatMul']) {
      expect(after[k]!.fast).toBeGreaterThan(before[k]?.fast ?? 0);
      expect(after[k]!.fallback).toBe(before[k]?.fallback ?? 0);
    }
  });

  function trainer(model: ModelName, batch: number, optimizerKind: 'tfjs' | 'fused' | 'fused step') {
    const net = createModel(model, { seed: 3 });
    const optimizer = optimizerKind === 'fused' ? sgdOptimizer(0.05) : tf.train.sgd(0.05);
    const x = tf.tensor4d(randomValues(batch * 784, 1), [batch, 28, 28, 1]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10).toFloat());
    const stack = optimizerKind === 'fused step' ? fusedStackOf(net) : undefined;
    if (optimizerKind === 'fused step' && !stack) throw new Error(`${model} is not a model the fused step takes`);
    return {
      step: () => stack ? tf.dispose(Object.values(fusedSgdStep(stack, x, y as tf.Tensor2D, 0.05))) : tf.tidy(() => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor), false);
      }),
      dispose: () => {
        net.dispose();
        optimizer.dispose();
        tf.dispose([x, y]);
      },
    };
  }

  // Scratch buffers are per thread (thread_local, grown to the largest call and kept). With one
  // kernel thread the warm-up leaves every buffer at its plateau, so any growth after it is a
  // leak. With two, which thread first runs a given conv or pool task depends on scheduling, so
  // the second thread may still grow its own copies later (CI saw +3,364 bytes on 8.3 MB under
  // load): bounded by one more thread's worth, the warm-up's total, not by the step count.
  test.each([
    ['mlp', 10, 2000, 'tfjs', 2],
    ['mlp', 10, 2000, 'fused', 2],
    ['mlp', 10, 2000, 'fused step', 2],
    ['cnn', 4, 100, 'fused', 1],
    ['cnn', 4, 100, 'fused', 2],
    ['cnn', 4, 100, 'fused step', 1],
    ['cnn', 4, 100, 'fused step', 2],
  ] as const)('%s batch %d: %d steps (%s SGD, %d kernel thread(s)) leave tensors, the shared heap and native scratch unchanged', async (model, batch, steps, optimizerKind, threads) => {
    await tf.setBackend('native');
    const backend = tf.backend() as BackendNative;
    expect(backend).toBeInstanceOf(BackendNative);
    addon!.setThreads(threads);
    try {
      const baseTensors = tf.memory().numTensors;
      const t = trainer(model, batch, optimizerKind);
      for (let i = 0; i < 10; i++) t.step();
      const tensors = tf.memory().numTensors;
      const resident = backend.wasmResidentTensors;
      const heap = backend.runtime.heap.stats();
      const scratch = addon!.scratchBytes();
      expect(scratch).toBeGreaterThan(0);
      for (let i = 0; i < steps; i++) t.step();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(backend.wasmResidentTensors).toBe(resident);
      expect(backend.runtime.heap.stats()).toEqual(heap);
      if (threads === 1 || model === 'mlp') expect(addon!.scratchBytes()).toBe(scratch);
      else expect(addon!.scratchBytes()).toBeLessThanOrEqual(threads * scratch);
      t.dispose();
      expect(tf.memory().numTensors).toBe(baseTensors);
    } finally {
      addon!.setThreads(2);
    }
  });
});
