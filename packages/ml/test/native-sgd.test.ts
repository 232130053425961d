/**
 * The fused SGD update (FusedSgdOptimizer, the native backend's FedlinkSgdUpdate kernel): the
 * same weights, bit for bit, as tfjs's own SGD on the same backend, one update kernel per
 * weight instead of Multiply + Add, and tfjs's path where the backend has no such kernel.
 * Skipped, saying so, without the addon.
 */
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, sgdOptimizer, SGD_UPDATE_KERNEL, type ModelName } from '@fedlink/ml';
import { loadNative } from '@fedlink/native';
import { randomValues } from './helpers/backends.js';

const addon = loadNative();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log('native addon not built here: fused SGD tests skipped');

beforeAll(async () => {
  if (addon) expect((await initBackend('native', { threads: 2 })).name).toBe('native');
});

/** The model's weights after `steps` SGD steps (lr 0.05) with `optimizer`, on the current backend. */
function trainWith(model: ModelName, optimizer: tf.Optimizer, steps: number, batch = 4): Float32Array[] {
  const net = createModel(model, { seed: 5 });
  const x = tf.tensor4d(randomValues(batch * 784, 11), [batch, 28, 28, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (3 * i) % 10), 'int32'), 10).toFloat());
  for (let i = 0; i < steps; i++) {
    tf.tidy(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor), false);
    });
  }
  const out = net.getWeights().map((w) => w.dataSync() as Float32Array);
  net.dispose();
  optimizer.dispose();
  tf.dispose([x, y]);
  return out;
}

const same = (a: Float32Array[], b: Float32Array[]) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i]!.buffer, a[i]!.byteOffset, a[i]!.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength))).toBe(true);
};

maybe('fused SGD update on native', () => {
  test.each([['mlp', 5], ['cnn', 2]] as const)('%s: %d steps give tfjs SGD\'s weights bit for bit', async (model, steps) => {
    await tf.setBackend('native');
    const fused = trainWith(model, sgdOptimizer(0.05), steps);
    const stock = trainWith(model, tf.train.sgd(0.05), steps);
    same(fused, stock);
    // and they moved
    const init = createModel(model, { seed: 5 });
    const w0 = init.getWeights()[0]!.dataSync();
    init.dispose();
    expect(fused[0]!.some((v, i) => v !== w0[i])).toBe(true);
  });

  test('one update kernel per weight, no Multiply/Add over the weights', async () => {
    await tf.setBackend('native');
    const net = createModel('mlp', { seed: 1 });
    const opt = sgdOptimizer(0.05);
    const x = tf.tensor4d(randomValues(2 * 784, 3), [2, 28, 28, 1]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([1, 2], 'int32'), 10).toFloat());
    const prof = await tf.profile(() => tf.tidy(() => {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor), false);
    }));
    const weights = net.trainableWeights.length;
    expect(prof.kernels.filter((k) => k.name === SGD_UPDATE_KERNEL)).toHaveLength(weights);
    const big = (k: { name: string; inputShapes: number[][] }) => k.inputShapes.some((s) => s.length === 2 && s[0] === 784 && s[1] === 200);
    expect(prof.kernels.filter((k) => (k.name === 'Multiply' || k.name === 'Add') && big(k))).toHaveLength(0);
    net.dispose();
    opt.dispose();
    tf.dispose([x, y]);
  });

  test('the kernel rejects what it does not take with a TypeError', async () => {
    await tf.setBackend('native');
    const v = tf.tensor1d([1, 2, 3]);
    const g = tf.tensor1d([1, 2], 'int32');
    expect(() => tf.engine().runKernel(SGD_UPDATE_KERNEL, { value: v, gradient: g }, { c: -0.1 })).toThrow(TypeError);
    expect(() => tf.engine().runKernel(SGD_UPDATE_KERNEL, { value: v, gradient: v }, {})).toThrow(TypeError);
    const out = tf.engine().runKernel(SGD_UPDATE_KERNEL, { value: v, gradient: tf.tensor1d([10, 20, 30]) }, { c: -0.5 }) as tf.Tensor;
    expect(Array.from(out.dataSync())).toEqual([-4, -8, -12]);
    tf.dispose([v, g, out]);
  });
});

describe('fused SGD elsewhere', () => {
  test('on cpu (no fused kernel) it is tfjs SGD, bit for bit', async () => {
    await tf.setBackend('cpu');
    same(trainWith('mlp', sgdOptimizer(0.05), 3), trainWith('mlp', tf.train.sgd(0.05), 3));
  });
});
