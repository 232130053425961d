/**
 * The fused dense SGD step (dense-step.ts, the native backend's FedlinkDenseSgdStep): the same
 * steps as tfjs's optimizer.minimize on softmax cross-entropy on the cpu backend, from the same
 * weights and batches (loss, hits and weights after every step, within float32 rounding); which
 * models it takes; trainLocal's accuracy with it. Skipped, saying so, without the addon.
 */
import * as tf from '@tensorflow/tfjs';
import { type DenseStack, createModel, denseSgdStep, denseStackOf, hasDenseSgdStep, initBackend, trainLocal } from '@fedlink/ml';
import { kernelCallCounts } from '@fedlink/ml/node';
import { loadNative } from '@fedlink/native';
import { randomValues } from './helpers/backends.js';
import { mnistSubset } from './helpers/mnist-subset.js';

const addon = loadNative();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log('native addon not built here: fused dense step tests skipped');

beforeAll(async () => {
  if (addon) expect((await initBackend('native', { threads: 2 })).name).toBe('native');
});

/** A Sequential of dense layers: widths[0] inputs (flattened from [widths[0], 1, 1]), then the units, each with `acts[l]`. */
function denseModel(widths: number[], acts: ('relu' | 'linear')[], seed: number): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [widths[0]!, 1, 1] }));
  for (let l = 1; l < widths.length; l++) {
    m.add(tf.layers.dense({ units: widths[l]!, activation: acts[l - 1]!, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + l }), biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed + 100 + l }) }));
  }
  return m;
}

interface Trace {
  losses: number[];
  hits: number[];
  weights: Float32Array[];
}

/** `steps` SGD steps of tfjs's minimize (softmax cross-entropy) on the current backend. */
function minimizeSteps(model: tf.Sequential, xs: tf.Tensor[], ys: tf.Tensor2D[], lr: number, steps: number): Trace {
  const opt = tf.train.sgd(lr);
  const trace: Trace = { losses: [], hits: [], weights: [] };
  for (let s = 0; s < steps; s++) {
    const x = xs[s % xs.length]!;
    const y = ys[s % ys.length]!;
    const hits = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(model.predict(x) as tf.Tensor, -1), tf.argMax(y, -1)), 'int32')).dataSync()[0]!);
    const loss = tf.tidy(() => opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!.dataSync()[0]!);
    trace.losses.push(loss);
    trace.hits.push(hits);
  }
  trace.weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  opt.dispose();
  return trace;
}

function fusedSteps(model: tf.Sequential, xs: tf.Tensor[], ys: tf.Tensor2D[], lr: number, steps: number): Trace {
  const stack = denseStackOf(model)!;
  expect(stack).toBeDefined();
  const trace: Trace = { losses: [], hits: [], weights: [] };
  for (let s = 0; s < steps; s++) {
    const { loss, hits } = denseSgdStep(stack, xs[s % xs.length]!, ys[s % ys.length]!, lr);
    trace.losses.push(loss.dataSync()[0]!);
    trace.hits.push(hits.dataSync()[0]!);
    tf.dispose([loss, hits]);
  }
  trace.weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  return trace;
}

/** Largest |a - b| relative to the larger of 1 and max |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** Runs both on their backends from the same weights and batches; returns [cpu minimize, native fused]. */
async function compare(widths: number[], acts: ('relu' | 'linear')[], batch: number, steps: number, labels: (row: number, classes: number) => number[]): Promise<[Trace, Trace]> {
  const classes = widths[widths.length - 1]!;
  const xData = Array.from({ length: 3 }, (_, k) => randomValues(batch * widths[0]!, 40 + k));
  const yData = Array.from({ length: 3 }, (_, k) => Float32Array.from(Array.from({ length: batch }, (_, i) => labels(i + k * batch, classes)).flat()));
  const run = async (backend: string, fn: typeof minimizeSteps): Promise<Trace> => {
    await tf.setBackend(backend);
    const model = denseModel(widths, acts, 9);
    const xs = xData.map((d) => tf.tensor4d(d, [batch, widths[0]!, 1, 1]));
    const ys = yData.map((d) => tf.tensor2d(d, [batch, classes]));
    const t = fn(model, xs, ys, 0.1, steps);
    model.dispose();
    tf.dispose([...xs, ...ys]);
    return t;
  };
  const cpu = await run('cpu', minimizeSteps);
  const native = await run('native', fusedSteps);
  return [cpu, native];
}

const oneHot = (row: number, classes: number) => Array.from({ length: classes }, (_, j) => (j === (row * 7) % classes ? 1 : 0));

maybe('fused dense SGD step on native', () => {
  test.each([
    ['the 2NN shape at batch 10', [784, 200, 200, 10], ['relu', 'relu', 'linear'], 10, 12],
    ['batch 1, odd widths, a linear hidden layer', [13, 7, 5, 3], ['relu', 'linear', 'linear'], 1, 20],
    ['batch 17, one layer (softmax regression)', [33, 4], ['linear'], 17, 20],
  ] as const)('%s: the steps tfjs minimize takes on cpu (loss, hits, weights)', async (_name, widths, acts, batch, steps) => {
    const [cpu, native] = await compare([...widths], [...acts], batch, steps, oneHot);
    for (let s = 0; s < steps; s++) expect(Math.abs(native.losses[s]! - cpu.losses[s]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, cpu.losses[s]!));
    expect(native.hits).toEqual(cpu.hits);
    for (let i = 0; i < cpu.weights.length; i++) expect(relDiff(native.weights[i]!, cpu.weights[i]!)).toBeLessThanOrEqual(1e-5);
    // and training moved the loss
    expect(cpu.losses[steps - 1]).toBeLessThan(cpu.losses[0]!);
  });

  test('soft labels and an all-zero label row: tfjs softmaxCrossEntropy\'s gradient (softmax - labels), as on cpu', async () => {
    const soft = (row: number, classes: number) => (row % 5 === 4 ? new Array(classes).fill(0) : Array.from({ length: classes }, (_, j) => (j === row % classes ? 0.7 : 0.3 / (classes - 1))));
    const [cpu, native] = await compare([20, 9, 6], ['relu', 'linear'], 5, 10, soft);
    for (let s = 0; s < 10; s++) expect(Math.abs(native.losses[s]! - cpu.losses[s]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, cpu.losses[s]!));
    for (let i = 0; i < cpu.weights.length; i++) expect(relDiff(native.weights[i]!, cpu.weights[i]!)).toBeLessThanOrEqual(1e-5);
  });

  test('takes dense stacks only', async () => {
    await tf.setBackend('native');
    expect(hasDenseSgdStep()).toBe(true);
    const mlp = createModel('mlp', { seed: 1 });
    const stack = denseStackOf(mlp) as DenseStack;
    expect([stack.inputSize, stack.classes, stack.layers.map((l) => l.relu)]).toEqual([784, 10, [true, true, false]]);
    const refused: tf.LayersModel[] = [
      createModel('cnn', { seed: 1 }),
      denseModel([8, 4, 3], ['relu', 'relu'], 1), // the logits layer has a relu
      (() => {
        const m = tf.sequential();
        m.add(tf.layers.dense({ inputShape: [8], units: 3, activation: 'softmax' }));
        return m;
      })(),
      (() => {
        const m = tf.sequential();
        m.add(tf.layers.dense({ inputShape: [8], units: 3, kernelRegularizer: tf.regularizers.l2() }));
        return m;
      })(),
      (() => {
        const m = tf.sequential();
        m.add(tf.layers.dense({ inputShape: [8], units: 4, activation: 'relu' }));
        m.add(tf.layers.dropout({ rate: 0.5 }));
        m.add(tf.layers.dense({ units: 3 }));
        return m;
      })(),
      (() => {
        const input = tf.input({ shape: [8] });
        return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor });
      })(),
    ];
    for (const m of refused) expect(denseStackOf(m)).toBeUndefined();
    for (const m of [mlp, ...refused]) m.dispose();
    await tf.setBackend('cpu');
    expect(hasDenseSgdStep()).toBe(false);
  });

  test('malformed calls are TypeErrors, not wrong answers', async () => {
    await tf.setBackend('native');
    const w = tf.zeros([4, 3]);
    const b = tf.zeros([3]);
    const x = tf.zeros([2, 4]);
    const call = (inputs: tf.NamedTensorMap, attrs: object) => () => tf.engine().runKernel('FedlinkDenseSgdStep', inputs, attrs as tf.NamedAttrMap);
    expect(call({ x, y: tf.zeros([2, 5]), w0: w, b0: b }, { c: -0.1, relu: [0] })).toThrow(/classes/);
    expect(call({ x, y: tf.zeros([2, 3]), w0: tf.zeros([5, 3]), b0: b }, { c: -0.1, relu: [0] })).toThrow(/layer 0/);
    expect(call({ x, y: tf.zeros([2, 3]), w0: w, b0: b }, { relu: [0] })).toThrow(/attrs/);
    expect(call({ x, y: tf.zeros([2, 3]), w0: w, b0: b }, { c: -0.1, relu: [1] })).toThrow(/logits/);
    tf.dispose([w, b, x]);
  });

  test('trainLocal on the 2NN: one fused kernel a step, and the accuracy cpu reaches from the same seed', async () => {
    const dataset = (start: number, perDigit: number) => {
      const s = mnistSubset(start, perDigit);
      return { images: s.x, labels: Uint8Array.from(s.labels), count: s.n, height: 28, width: 28, channels: 1, numClasses: 10 };
    };
    const train = dataset(0, 60);
    const test = dataset(600, 20);
    const config = { epochs: 2, batchSize: 10, learningRate: 0.05, proximalMu: 0, seed: 3 };
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const model = createModel('mlp', { seed: 4 });
      const result = await trainLocal(model, train, config);
      const accuracy = tf.tidy(() => {
        const logits = model.predict(tf.tensor4d(test.images, [test.count, 28, 28, 1])) as tf.Tensor;
        return tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.tensor1d(test.labels, 'int32')), 'float32')).dataSync()[0]!;
      });
      model.dispose();
      return { ...result, accuracy };
    };
    const cpu = await run('cpu');
    const before = kernelCallCounts('native');
    const native = await run('native');
    const after = kernelCallCounts('native');
    console.log(`trainLocal 2NN: cpu loss ${cpu.loss.toFixed(4)} test accuracy ${cpu.accuracy.toFixed(3)}; native (fused) loss ${native.loss.toFixed(4)} test accuracy ${native.accuracy.toFixed(3)}`);
    expect(cpu.accuracy).toBeGreaterThan(0.7);
    expect(Math.abs(native.accuracy - cpu.accuracy)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(native.loss - cpu.loss) / cpu.loss).toBeLessThanOrEqual(0.02);
    expect(native.steps).toBe(cpu.steps);
    // The fused kernel ran every step; no matmul went through tfjs's gradient path.
    expect((after.BatchMatMul?.fast ?? 0) - (before.BatchMatMul?.fast ?? 0)).toBe(0);
  });
});
