/**
 * The fused SGD step (fused-step.ts, the native backend's FedlinkSequentialSgdStep): the same
 * steps as tfjs's optimizer.minimize on softmax cross-entropy on the cpu backend, from the same
 * weights and batches (loss, hits and weights after every step, within float32 rounding), for
 * dense stacks and conv/pool/dense models; which models it takes; trainLocal's accuracy with it.
 * Skipped, saying so, without the addon.
 */
import * as tf from '@tensorflow/tfjs';
import { type FusedStack, createModel, fusedSgdStep, fusedStackOf, hasFusedSgdStep, initBackend, layerCodes, trainLocal } from '@fedlink/ml';
import { kernelCallCounts } from '@fedlink/ml/node';
import { loadNative } from '@fedlink/native';
import { randomValues } from './helpers/backends.js';
import { mnistSubset } from './helpers/mnist-subset.js';

const addon = loadNative();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log('native addon not built here: fused step tests skipped');

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

/** A small conv net: conv (same, stride 2, relu) - maxpool 2 - conv (valid, linear) - maxpool 3 stride 1 same - flatten - dense relu - dense. */
function convModel(seed: number, inputShape: [number, number, number]): tf.Sequential {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const bias = () => tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: s++ });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape, filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  m.add(tf.layers.conv2d({ filters: 12, kernelSize: [3, 2], padding: 'valid', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tf.layers.dense({ units: 5, kernelInitializer: init(), biasInitializer: bias() }));
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
  const stack = fusedStackOf(model)!;
  expect(stack).toBeDefined();
  const trace: Trace = { losses: [], hits: [], weights: [] };
  for (let s = 0; s < steps; s++) {
    const { loss, hits } = fusedSgdStep(stack, xs[s % xs.length]!, ys[s % ys.length]!, lr);
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
async function compareModels(build: () => tf.Sequential, inputShape: number[], classes: number, batch: number, steps: number, labels: (row: number, classes: number) => number[]): Promise<[Trace, Trace]> {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const xData = Array.from({ length: 3 }, (_, k) => randomValues(batch * size, 40 + k));
  const yData = Array.from({ length: 3 }, (_, k) => Float32Array.from(Array.from({ length: batch }, (_, i) => labels(i + k * batch, classes)).flat()));
  const run = async (backend: string, fn: typeof minimizeSteps): Promise<Trace> => {
    await tf.setBackend(backend);
    const model = build();
    const xs = xData.map((d) => tf.tensor(d, [batch, ...inputShape]));
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

function compare(widths: number[], acts: ('relu' | 'linear')[], batch: number, steps: number, labels: (row: number, classes: number) => number[]): Promise<[Trace, Trace]> {
  return compareModels(() => denseModel(widths, acts, 9), [widths[0]!, 1, 1], widths[widths.length - 1]!, batch, steps, labels);
}

function expectSameSteps(cpu: Trace, native: Trace, tolerance: number): void {
  for (let s = 0; s < cpu.losses.length; s++) expect(Math.abs(native.losses[s]! - cpu.losses[s]!)).toBeLessThanOrEqual(tolerance * Math.max(1, cpu.losses[s]!));
  for (let i = 0; i < cpu.weights.length; i++) expect(relDiff(native.weights[i]!, cpu.weights[i]!)).toBeLessThanOrEqual(tolerance);
}

const oneHot = (row: number, classes: number) => Array.from({ length: classes }, (_, j) => (j === (row * 7) % classes ? 1 : 0));

maybe('fused SGD step on native', () => {
  test.each([
    ['the 2NN shape at batch 10', [784, 200, 200, 10], ['relu', 'relu', 'linear'], 10, 12],
    ['batch 1, odd widths, a linear hidden layer', [13, 7, 5, 3], ['relu', 'linear', 'linear'], 1, 20],
    ['batch 17, one layer (softmax regression)', [33, 4], ['linear'], 17, 20],
    ['batch 3, a layer of 300,000 weights (backward and update by blocks of rows)', [600, 500, 10], ['relu', 'linear'], 3, 6],
  ] as const)('%s: the steps tfjs minimize takes on cpu (loss, hits, weights)', async (_name, widths, acts, batch, steps) => {
    const [cpu, native] = await compare([...widths], [...acts], batch, steps, oneHot);
    expectSameSteps(cpu, native, 1e-5);
    expect(native.hits).toEqual(cpu.hits);
    // and training moved the loss
    expect(cpu.losses[steps - 1]).toBeLessThan(cpu.losses[0]!);
  });

  test.each([
    ['batch 6 on 13x11x3 inputs', [13, 11, 3], 6],
    ['batch 1 on 12x12x1 inputs', [12, 12, 1], 1],
  ] as const)('conv net, %s (same/valid, strides 2 and 1, pools 2 and 3): the steps minimize takes on cpu', async (_name, shape, batch) => {
    const [cpu, native] = await compareModels(() => convModel(5, [...shape]), [...shape], 5, batch, 10, oneHot);
    expectSameSteps(cpu, native, 1e-4);
    expect(native.hits).toEqual(cpu.hits);
    expect(cpu.losses[9]).toBeLessThan(cpu.losses[0]!);
  });

  test('soft labels and an all-zero label row: tfjs softmaxCrossEntropy\'s gradient (softmax - labels), as on cpu', async () => {
    const soft = (row: number, classes: number) => (row % 5 === 4 ? new Array(classes).fill(0) : Array.from({ length: classes }, (_, j) => (j === row % classes ? 0.7 : 0.3 / (classes - 1))));
    const [cpu, native] = await compare([20, 9, 6], ['relu', 'linear'], 5, 10, soft);
    expectSameSteps(cpu, native, 1e-5);
  });

  test('takes sequential conv/pool/dense models only', async () => {
    await tf.setBackend('native');
    expect(hasFusedSgdStep()).toBe(true);
    const mlp = createModel('mlp', { seed: 1 });
    const cnn = createModel('cnn', { seed: 1 });
    const kinds = (st: FusedStack) => st.layers.map((l) => `${l.kind}${l.kind !== 'pool' && l.relu ? '+relu' : ''}`);
    const m = fusedStackOf(mlp)!;
    expect([m.inputSize, m.classes, kinds(m)]).toEqual([784, 10, ['dense+relu', 'dense+relu', 'dense']]);
    const c = fusedStackOf(cnn)!;
    expect([c.inputSize, c.classes, kinds(c)]).toEqual([784, 10, ['conv+relu', 'pool', 'conv+relu', 'pool', 'dense+relu', 'dense']]);
    const seq = (...layers: tf.layers.Layer[]) => {
      const s = tf.sequential();
      for (const l of layers) s.add(l);
      return s;
    };
    const refused: tf.LayersModel[] = [
      denseModel([8, 4, 3], ['relu', 'relu'], 1), // the logits layer has a relu
      seq(tf.layers.dense({ inputShape: [8], units: 3, activation: 'softmax' })),
      seq(tf.layers.dense({ inputShape: [8], units: 3, kernelRegularizer: tf.regularizers.l2() })),
      seq(tf.layers.dense({ inputShape: [8], units: 4, activation: 'relu' }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 3 })),
      seq(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'tanh' }), tf.layers.flatten(), tf.layers.dense({ units: 3 })),
      seq(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }), tf.layers.averagePooling2d({ poolSize: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 3 })),
      seq(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, useBias: false }), tf.layers.flatten(), tf.layers.dense({ units: 3 })),
      seq(tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }), tf.layers.batchNormalization(), tf.layers.flatten(), tf.layers.dense({ units: 3 })),
      (() => {
        const input = tf.input({ shape: [8] });
        return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor });
      })(),
    ];
    for (const r of refused) expect(fusedStackOf(r)).toBeUndefined();
    for (const r of [mlp, cnn, ...refused]) r.dispose();
    await tf.setBackend('cpu');
    expect(hasFusedSgdStep()).toBe(false);
  });

  test('malformed calls are TypeErrors or RangeErrors, not wrong answers', async () => {
    await tf.setBackend('native');
    const stack = fusedStackOf(denseModel([4, 3], ['linear'], 1))!;
    const codes = layerCodes(stack, 2);
    const w = tf.zeros([4, 3]);
    const b = tf.zeros([3]);
    const x = tf.zeros([2, 4]);
    const call = (inputs: tf.NamedTensorMap, attrs: object) => () => tf.engine().runKernel('FedlinkSequentialSgdStep', inputs, attrs as tf.NamedAttrMap);
    expect(call({ x, y: tf.zeros([2, 3]), w0: tf.zeros([5, 3]), b0: b }, { c: -0.1, layers: codes })).toThrow(/layer 0/);
    expect(call({ x, y: tf.zeros([2, 3]), w0: w, b0: b }, { layers: codes })).toThrow(/attrs/);
    expect(call({ x, y: tf.zeros([2, 3]), w0: w, b0: b }, { c: -0.1, layers: codes.slice(0, 31) })).toThrow(/attrs/);
    const relu = [...codes];
    relu[1] = 1;
    expect(call({ x, y: tf.zeros([2, 3]), w0: w, b0: b }, { c: -0.1, layers: relu })).toThrow(/logits/);
    expect(call({ x, y: tf.zeros([2, 5]), w0: w, b0: b }, { c: -0.1, layers: codes })).toThrow(/classes/);
    expect(call({ x: tf.zeros([2, 3]), y: tf.zeros([2, 3]), w0: w, b0: b }, { c: -0.1, layers: codes })).toThrow(/values an example/);
    // Geometry the addon checks: a batch in the codes that isn't x's.
    const conv = fusedStackOf(convModel(1, [12, 12, 1]))!;
    const convInputs: tf.NamedTensorMap = { x: tf.zeros([2, 144]), y: tf.zeros([2, 5]) };
    conv.layers.filter((l) => l.kind !== 'pool').forEach((l, i) => {
      convInputs[`w${i}`] = (l as { kernel: tf.LayerVariable }).kernel.read();
      convInputs[`b${i}`] = (l as { bias: tf.LayerVariable }).bias.read();
    });
    expect(call(convInputs, { c: -0.1, layers: layerCodes(conv, 3) })).toThrow(/bad conv geometry/);
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
