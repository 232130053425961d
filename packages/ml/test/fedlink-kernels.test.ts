/**
 * Every fedlink wasm kernel against the stock cpu backend: forward values and, through
 * tf.grad, the gradient kernels, over strides 1/2, 'same'/'valid', odd sizes, channel
 * counts that do and do not fill SIMD lanes, and batch 1 and 64. The largest absolute
 * difference per case is printed at the end.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendFedlink, Tune, kernelCallCounts } from '@fedlink/ml/node';
import { compareBackends, disposeFedlink, initFedlink, randomValues, tolerance, type Comparison } from './helpers/backends.js';

const report: string[] = [];
beforeAll(async () => {
  await initFedlink();
  // The shapes here are small (the cpu reference is slow); make every kernel split its work
  // across both threads anyway, so the threaded paths are the ones checked.
  const backend = tf.findBackend('fedlink') as BackendFedlink;
  backend.runtime.exports.fl_tune(Tune.minParallelWork, 1);
});
afterAll(() => {
  disposeFedlink();
  console.log(`fedlink vs cpu, max abs difference per case:\n${report.join('\n')}`);
});

/** Compares, records, and checks that the named kernels took their wasm path. */
async function check(label: string, kernels: string[], f: () => tf.Tensor[]): Promise<Comparison> {
  const before = kernelCallCounts();
  const c = await compareBackends(f);
  const after = kernelCallCounts();
  report.push(`  ${label.padEnd(58)} ${c.maxAbsDiff.toExponential(2)} (max |ref| ${c.maxAbsRef.toFixed(2)})`);
  expect(c.nanMismatches).toBe(0);
  expect(c.maxAbsDiff).toBeLessThanOrEqual(tolerance(c));
  for (const k of kernels) {
    expect(after[k]!.fast).toBeGreaterThan(before[k]!.fast);
    expect(after[k]!.fallback).toBe(before[k]!.fallback);
  }
  return c;
}

const t4 = (shape: [number, number, number, number], seed: number, scale = 1) =>
  tf.tensor4d(randomValues(shape[0] * shape[1] * shape[2] * shape[3], seed, scale), shape);

describe('Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter', () => {
  // [batch, h, w, inC, kh, kw, outC]
  const geometries: [number, number, number, number, number, number, number][] = [
    [1, 9, 7, 1, 5, 5, 32], // the paper CNN's first layer shape, odd image
    [64, 9, 9, 3, 3, 3, 5], // batch 64, channels that do not fill lanes
    [1, 11, 13, 8, 3, 2, 12], // asymmetric filter, panel remainder (12 = 8 + 4)
    [64, 6, 7, 4, 1, 1, 9], // 1x1 filter
    [1, 10, 10, 16, 5, 5, 24], // like the paper CNN's second layer, smaller so cpu stays quick
    [3, 8, 9, 5, 5, 3, 10], // 75 taps: the grouped filter-gradient layout with odd channels and a ragged last group
  ];
  const cases = geometries.flatMap((g) =>
    [1, 2].flatMap((stride) => (['same', 'valid'] as const).map((pad) => ({ g, stride, pad }))),
  );
  test.each(cases)('%j', async ({ g, stride, pad }) => {
    const [b, h, w, ci, kh, kw, co] = g;
    if (pad === 'valid' && (kh > h || kw > w)) return;
    const label = `conv b${b} ${h}x${w}x${ci} k${kh}x${kw}x${co} s${stride} ${pad}`;
    await check(label, ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'], () => {
      const x = t4([b, h, w, ci], 1);
      const f = t4([kh, kw, ci, co], 2, 0.5);
      const y = tf.conv2d(x, f, stride, pad);
      const dy = tf.tensor(randomValues(y.size, 3), y.shape);
      const g2 = tf.grads((xx: tf.Tensor, ff: tf.Tensor) =>
        tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, stride, pad).mul(dy).sum(),
      )([x, f]);
      return [y, ...g2];
    });
  });

  test.each([
    ['relu', 1, 'same'],
    ['linear', 2, 'valid'],
    ['relu', 2, 'same'],
  ] as const)('FusedConv2D (inference path) with bias + %s, stride %d, %s', async (activation, stride, pad) => {
    await check(`fused conv b5 9x8x3 k5x5x12 s${stride} ${pad} bias ${activation}`, ['FusedConv2D'], () => {
      const x = t4([5, 9, 8, 3], 20);
      const f = t4([5, 5, 3, 12], 21, 0.5);
      const bias = tf.tensor1d(randomValues(12, 22));
      return [tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias, activation })];
    });
  });

  test('dilated forward and explicit padding', async () => {
    await check('conv dilation 2, explicit pad', ['Conv2D'], () => {
      const x = t4([3, 10, 9, 6], 4);
      const f = t4([3, 3, 6, 10], 5);
      const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 2], [0, 1], [0, 0]];
      return [tf.conv2d(x, f, 1, 'same', 'NHWC', 2), tf.conv2d(x, f, [2, 1], explicit)];
    });
  });
});

describe('MaxPool and MaxPoolGrad', () => {
  const cases: { b: number; h: number; w: number; c: number; k: number; s: number; pad: 'same' | 'valid' }[] = [];
  for (const b of [1, 64])
    for (const c of [3, 8])
      for (const [k, s] of [[2, 2], [3, 2], [3, 1]])
        for (const pad of ['same', 'valid'] as const) cases.push({ b, h: 7, w: 9, c, k: k!, s: s!, pad });
  test.each(cases)('%j', async ({ b, h, w, c, k, s, pad }) => {
    await check(`maxpool b${b} ${h}x${w}x${c} k${k} s${s} ${pad}`, ['MaxPool', 'MaxPoolGrad'], () => {
      // Rounded, rectified values: many ties, so the tie rule (first maximum) is exercised.
      const x = tf.tidy(() => t4([b, h, w, c], 6, 2).mul(2).round().div(2).relu() as tf.Tensor4D);
      const dy = tf.tidy(() => {
        const shape = tf.maxPool(x, k, s, pad).shape;
        return tf.tensor(randomValues(shape.reduce((p, d) => p * d, 1), 7), shape);
      });
      const y = tf.maxPool(x, k, s, pad);
      const dx = tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, k, s, pad).mul(dy).sum())(x);
      return [y, dx];
    });
  });
});

describe('BatchMatMul and _FusedMatMul', () => {
  // [m, k, n]: tiny; a dense-gradient shape; k = 1; several panel groups with a ragged last one; a long row block
  // and a reduction longer than one K block (512)
  const dims: [number, number, number][] = [[1, 7, 9], [10, 33, 16], [64, 1, 9], [13, 200, 21], [10, 300, 130], [300, 10, 40], [6, 1100, 20]];
  const cases = dims.flatMap((d) =>
    [false, true].flatMap((ta) => [false, true].map((tb) => ({ d, ta, tb }))),
  );
  test.each(cases)('%j', async ({ d: [m, k, n], ta, tb }) => {
    await check(`matmul ${m}x${k}x${n} tA=${ta} tB=${tb}`, ['BatchMatMul'], () => {
      const a = tf.tensor2d(randomValues(m * k, 8), ta ? [k, m] : [m, k]);
      const b = tf.tensor2d(randomValues(k * n, 9), tb ? [n, k] : [k, n]);
      const y = tf.matMul(a, b, ta, tb);
      const dy = tf.tensor2d(randomValues(m * n, 10), [m, n]);
      return [y, ...tf.grads((aa: tf.Tensor, bb: tf.Tensor) => tf.matMul(aa as tf.Tensor2D, bb as tf.Tensor2D, ta, tb).mul(dy).sum())([a, b])];
    });
  });

  test('batched and broadcast batch', async () => {
    await check('matmul batch 3 and broadcast batch 1', ['BatchMatMul'], () => {
      const a = tf.tensor3d(randomValues(3 * 5 * 6, 11), [3, 5, 6]);
      const b = tf.tensor3d(randomValues(3 * 6 * 4, 12), [3, 6, 4]);
      const b1 = tf.tensor3d(randomValues(6 * 4, 13), [1, 6, 4]);
      return [tf.matMul(a, b), tf.matMul(a, b1), tf.matMul(b1, a, true, true)];
    });
  });

  test.each(['linear', 'relu'] as const)('fused bias + %s, with gradients', async (activation) => {
    await check(`fused matmul + bias + ${activation}`, ['_FusedMatMul'], () => {
      // k = 700 spans two reduction blocks: bias and relu must apply once, after the last.
      const a = tf.tensor2d(randomValues(10 * 700, 14), [10, 700]);
      const b = tf.tensor2d(randomValues(700 * 11, 15), [700, 11]);
      const bias = tf.tensor1d(randomValues(11, 16));
      const y = tf.fused.matMul({ a, b, bias, activation });
      const g = tf.grads((aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
        tf.fused.matMul({ a: aa as tf.Tensor2D, b: bb as tf.Tensor2D, bias: cc, activation }).sum(),
      )([a, b, bias]);
      return [y, ...g];
    });
  });
});

describe('elementwise and reductions', () => {
  const shapes: [string, number[], number[]][] = [
    ['same shape, odd size', [3, 5, 7], [3, 5, 7]],
    ['scalar right', [64, 9], []],
    ['scalar left', [], [5, 3]],
    ['bias row', [2, 4, 4, 12], [12]],
    ['bias row with leading 1s', [7, 5], [1, 5]],
    ['row left', [6], [9, 6]],
  ];
  const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['Add', tf.add],
    ['Sub', tf.sub],
    ['Multiply', tf.mul],
    ['RealDiv', tf.div],
  ];
  const cases = ops.flatMap(([name, op]) => shapes.map(([what, sa, sb]) => ({ name, op, what, sa, sb })));
  test.each(cases)('$name $what', async ({ name, op, what, sa, sb }) => {
    await check(`${name} ${what}`, [name], () => {
      const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
      const a = tf.tensor(randomValues(size(sa), 17), sa);
      // Away from 0 so division stays well conditioned.
      const b = tf.tidy(() => tf.tensor(randomValues(size(sb), 18), sb).add(2));
      return [op(a, b)];
    });
  });

  test('unsupported broadcast falls back to cpu and still agrees', async () => {
    const before = kernelCallCounts().Add!.fallback;
    const c = await compareBackends(() => [tf.add(tf.tensor2d(randomValues(3, 19), [3, 1]), tf.tensor2d(randomValues(4, 20), [1, 4]))]);
    expect(c.maxAbsDiff).toBe(0);
    expect(kernelCallCounts().Add!.fallback).toBe(before + 1);
  });

  test('Relu and Step keep NaN, odd lengths', async () => {
    await check('Relu, Step(alpha 0.1) with NaN and -0', ['Relu', 'Step'], () => {
      const v = randomValues(67, 21);
      v[3] = NaN;
      v[10] = -0;
      const x = tf.tensor1d(v);
      return [tf.relu(x), tf.step(x, 0.1), tf.grad((xx: tf.Tensor) => tf.relu(xx).sum())(x)];
    });
  });

  const sums: [string, number[], number | number[], boolean][] = [
    ['leading axes (bias grad)', [4, 5, 6, 7], [0, 1, 2], false],
    ['leading axis, keepDims', [64, 9], 0, true],
    ['trailing axes', [3, 5, 7], [1, 2], false],
    ['all axes', [5, 13], [0, 1], false],
    ['middle axis (falls back)', [3, 4, 5], 1, false],
  ];
  test.each(sums)('Sum %s', async (what, shape, axis, keepDims) => {
    const label = `Sum ${what}`;
    const kernels = what.includes('falls back') ? [] : ['Sum'];
    await check(label, kernels, () => {
      const x = tf.tensor(randomValues(shape.reduce((p, d) => p * d, 1), 22), shape);
      return [tf.sum(x, axis, keepDims)];
    });
  });
});

describe('Slice, SplitV, Unpack (run-wise copies) and UnsortedSegmentSum (gather gradient)', () => {
  const t = (shape: number[], seed: number) => tf.tensor(randomValues(shape.reduce((p, d) => p * d, 1), seed), shape);
  const slices: [string, number[], number[], number[]][] = [
    ['1-D inside', [37], [5], [20]],
    ['rows of a matrix (contiguous)', [9, 6], [2, 0], [4, 6]],
    ['columns of a matrix (strided)', [9, 6], [0, 1], [9, 3]],
    ['4-D box, every dimension cut', [3, 5, 4, 7], [1, 2, 1, 3], [2, 2, 3, 4]],
    ['4-D, size -1 to the end', [3, 5, 4, 7], [0, 4, 0, 2], [-1, -1, -1, -1]],
  ];
  test.each(slices)('Slice %s', async (what, shape, begin, size) => {
    const c = await check(`Slice ${what}`, ['Slice'], () => [tf.slice(t(shape, 30), begin, size)]);
    expect(c.maxAbsDiff).toBe(0);
  });

  test.each([
    ['LSTM gates: 4 equal pieces of axis 1', [100, 256], 4, 1],
    ['unequal pieces of the last axis of 3-D', [2, 3, 11], [2, 5, 4], -1],
    ['axis 0', [6, 5], [1, 5], 0],
  ] as const)('SplitV %s', async (what, shape, splits, axis) => {
    const c = await check(`SplitV ${what}`, ['SplitV'], () => tf.split(t([...shape], 31), splits as number | number[], axis));
    expect(c.maxAbsDiff).toBe(0);
  });

  test.each([0, 1, 2, -1])('Unpack along axis %d, and its gradient', async (axis) => {
    const c = await check(`Unpack axis ${axis}`, ['Unpack'], () => {
      const x = t([4, 3, 5], 32);
      const w = tf.tensor1d([1, -2, 3, 0.5, 7].slice(0, x.shape[axis < 0 ? 2 : axis]));
      const parts = tf.unstack(x, axis);
      const g = tf.grad((xx: tf.Tensor) => tf.addN(tf.unstack(xx, axis).map((p, i) => p.mul(w.slice(i, 1)).sum())))(x);
      return [...parts, g];
    });
    expect(c.maxAbsDiff).toBe(0);
  });

  test('an embedding gradient (gather with repeated and unused ids) sums rows per id exactly', async () => {
    const c = await check('UnsortedSegmentSum via gather grad', ['UnsortedSegmentSum'], () => {
      const table = t([12, 8], 33);
      const ids = tf.tensor2d([3, 3, 0, 11, 5, 3, 0, 7, 7, 3], [2, 5], 'int32');
      const dy = t([2, 5, 8], 34);
      return [tf.grad((tt: tf.Tensor) => tf.gather(tt, ids).mul(dy).sum())(table)];
    });
    expect(c.maxAbsDiff).toBe(0);
  });

  test('a 2-layer LSTM (the zoo char-lstm shape, smaller): outputs and gradients agree with cpu', async () => {
    await check('LSTM forward + gradients', ['SplitV', 'Unpack', 'UnsortedSegmentSum'], () => {
      const layer = tf.layers.lstm({ units: 6, returnSequences: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), recurrentInitializer: tf.initializers.glorotUniform({ seed: 4 }) });
      const emb = tf.layers.embedding({ inputDim: 10, outputDim: 4, embeddingsInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 5 }) });
      const ids = tf.tensor2d([1, 4, 4, 9, 0, 2, 2, 7, 3, 1, 8, 8], [3, 4]);
      const f = () => (layer.apply(emb.apply(ids)) as tf.Tensor).square().sum() as tf.Scalar;
      f(); // builds the weights
      const vars = [...emb.trainableWeights, ...layer.trainableWeights].map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(f, vars);
      const out = [value, ...vars.map((v) => grads[v.name]!)];
      layer.dispose();
      emb.dispose();
      return out;
    });
  });
});
