/**
 * Every native (C++) kernel against the stock cpu backend: forward values and, through tf.grad,
 * the gradient kernels, on the shapes the fedlink kernel tests use, once with every micro-kernel the
 * CPU can run (addon.isas(): AVX-512, AVX2+FMA, portable). Skipped, saying so, when the addon was
 * not built here. The largest absolute difference per case is printed at the end.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@fedlink/ml';
import { kernelCallCounts } from '@fedlink/ml/node';
import { loadNative } from '@fedlink/native';
import { compareBackends, randomValues, tolerance, type Comparison } from './helpers/backends.js';

const addon = loadNative();
const maybe = addon ? describe : describe.skip;
if (!addon) console.log('native addon not built here: native kernel tests skipped');

const report: string[] = [];
beforeAll(async () => {
  if (!addon) return;
  const info = await initBackend('native', { threads: 2 });
  if (info.name !== 'native') throw new Error(`expected native, got ${info.name}`);
});
afterAll(() => {
  addon?.useIsa('auto');
  if (report.length) console.log(`native vs cpu, max abs difference per case:\n${report.join('\n')}`);
});

async function check(label: string, kernels: string[], f: () => tf.Tensor[]): Promise<Comparison> {
  const before = kernelCallCounts('native');
  const c = await compareBackends(f, 'native');
  const after = kernelCallCounts('native');
  report.push(`  [${addon!.isa()}] ${label.padEnd(56)} ${c.maxAbsDiff.toExponential(2)} (max |ref| ${c.maxAbsRef.toFixed(2)})`);
  expect(c.nanMismatches).toBe(0);
  expect(c.maxAbsDiff).toBeLessThanOrEqual(tolerance(c));
  for (const k of kernels) {
    expect(after[k]!.fast).toBeGreaterThan(before[k]?.fast ?? 0);
    expect(after[k]!.fallback).toBe(before[k]?.fallback ?? 0);
  }
  return c;
}

const t4 = (shape: [number, number, number, number], seed: number, scale = 1) =>
  tf.tensor4d(randomValues(shape[0] * shape[1] * shape[2] * shape[3], seed, scale), shape);

maybe('micro-kernel choice', () => {
  test("auto runs the best the CPU has; 'portable' is always there; an ISA the CPU lacks is refused, naming what it can run", () => {
    const isas = addon!.isas();
    expect(isas[isas.length - 1]).toBe('portable');
    addon!.useIsa('auto');
    expect(addon!.isa()).toBe(isas[0]);
    // @ts-expect-error: not a NativeIsa, as a JavaScript caller could pass
    expect(() => addon!.useIsa('avx1024')).toThrow(`this CPU can't run isa 'avx1024' (it can: auto, ${isas.join(', ')})`);
    expect(addon!.isa()).toBe(isas[0]);
    for (const isa of ['avx512', 'avx2+fma'] as const) {
      if (!isas.includes(isa)) expect(() => addon!.useIsa(isa)).toThrow(`can't run isa '${isa}'`);
    }
  });

  test('fmaPeakGflops measures a positive rate for every ISA and refuses a bad duration', () => {
    for (const isa of addon!.isas()) {
      addon!.useIsa(isa);
      const peak = addon!.fmaPeakGflops(20);
      expect(Number.isFinite(peak) && peak > 0).toBe(true);
    }
    addon!.useIsa('auto');
    for (const bad of [0, -1, Number.NaN, 1e9]) expect(() => addon!.fmaPeakGflops(bad)).toThrow('fmaPeakGflops takes milliseconds in (0, 60000]');
  });

  test('conv2dPaths names the algorithm each convolution runs: Winograd for 5x5 stride 1 with 16+ channels on SIMD ISAs', () => {
    // dims: batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft
    const conv2 = Int32Array.of(10, 14, 14, 32, 14, 14, 64, 5, 5, 1, 1, 1, 1, 2, 2);
    const strided = Int32Array.of(10, 14, 14, 32, 7, 7, 64, 5, 5, 2, 2, 1, 1, 2, 2);
    const threeByThree = Int32Array.of(2, 8, 8, 32, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1);
    for (const isa of addon!.isas()) {
      addon!.useIsa(isa);
      const simd = isa !== 'portable';
      expect(addon!.conv2dPaths(conv2)).toEqual(simd ? { forward: 'winograd', filter: 'winograd', input: 'winograd' } : { forward: 'im2col', filter: 'im2col', input: 'im2col' });
      for (const d of [strided, threeByThree]) expect(Object.values(addon!.conv2dPaths(d))).not.toContain('winograd');
    }
    addon!.useIsa('auto');
    expect(() => addon!.conv2dPaths(new Int32Array(3))).toThrow();
  });
});

for (const isa of addon?.isas() ?? ['portable']) {
  maybe(`${isa} micro-kernel`, () => {
    beforeAll(() => addon!.useIsa(isa));

    describe('Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter', () => {
      // [batch, h, w, inC, kh, kw, outC]
      const geometries: [number, number, number, number, number, number, number][] = [
        [1, 9, 7, 1, 5, 5, 32],
        [64, 9, 9, 3, 3, 3, 5],
        [1, 11, 13, 8, 3, 2, 12],
        [64, 6, 7, 4, 1, 1, 9],
        [1, 10, 10, 16, 5, 5, 24],
        [3, 8, 9, 5, 5, 3, 10],
        // Few input channels, outC a multiple of 8: the direct (no im2col) path on AVX2 hosts.
        [10, 28, 28, 1, 5, 5, 32],
        [3, 8, 9, 3, 3, 3, 16],
        [2, 7, 6, 2, 3, 5, 48],
        [4, 9, 9, 4, 5, 5, 8],
        [2, 6, 5, 1, 2, 2, 24],
        // The CNN's conv2 (32 -> 64 channels, 5x5): Winograd F(2x2, 5x5), all three, on AVX2 and AVX-512.
        [1, 9, 8, 32, 5, 5, 64],
        // 5x5 with channels a multiple of 8 but not of 16 (Winograd in ymm under AVX-512; 40 = 2 x 16 + 8 output columns).
        [2, 7, 10, 24, 5, 5, 40],
      ];
      const cases = geometries.flatMap((g) => [1, 2].flatMap((stride) => (['same', 'valid'] as const).map((pad) => ({ g, stride, pad }))));
      test.each(cases)('%j', async ({ g, stride, pad }) => {
        const [b, h, w, ci, kh, kw, co] = g;
        if (pad === 'valid' && (kh > h || kw > w)) return;
        await check(`conv b${b} ${h}x${w}x${ci} k${kh}x${kw}x${co} s${stride} ${pad}`, ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'], () => {
          const x = t4([b, h, w, ci], 1);
          const f = t4([kh, kw, ci, co], 2, 0.5);
          const y = tf.conv2d(x, f, stride, pad);
          const dy = tf.tensor(randomValues(y.size, 3), y.shape);
          const g2 = tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, stride, pad).mul(dy).sum())([x, f]);
          return [y, ...g2];
        });
      });

      test.each([['relu', 1, 'same'], ['linear', 2, 'valid']] as const)('FusedConv2D with bias + %s, stride %d, %s', async (activation, stride, pad) => {
        await check(`fused conv b5 9x8x3 k5x5x12 s${stride} ${pad} bias ${activation}`, ['FusedConv2D'], () => {
          const x = t4([5, 9, 8, 3], 20);
          const f = t4([5, 5, 3, 12], 21, 0.5);
          const bias = tf.tensor1d(randomValues(12, 22));
          return [tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias, activation })];
        });
      });

      test('direct path: dilated, explicit padding, bias + relu', async () => {
        await check('direct conv dilation 2, explicit pad, fused', ['Conv2D', 'FusedConv2D'], () => {
          const x = t4([3, 10, 9, 1], 8);
          const f = t4([3, 3, 1, 16], 9);
          const bias = tf.tensor1d(randomValues(16, 10));
          const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 2], [0, 1], [0, 0]];
          return [tf.conv2d(x, f, 1, 'same', 'NHWC', 2), tf.conv2d(x, f, [2, 1], explicit), tf.fused.conv2d({ x, filter: f, strides: 2, pad: 'same', bias, activation: 'relu' })];
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
      const cases: { b: number; c: number; k: number; s: number; pad: 'same' | 'valid'; h?: number; w?: number }[] = [];
      for (const b of [1, 64])
        for (const c of [3, 8, 11])
          for (const [k, s] of [[2, 2], [3, 2], [3, 1]])
            for (const pad of ['same', 'valid'] as const) cases.push({ b, c, k: k!, s: s!, pad });
      // Windows tiling the input exactly (the CNN's 2x2 stride 2 on 28x28 and 14x14): the tiled MaxPoolGrad path.
      cases.push({ b: 10, c: 32, k: 2, s: 2, pad: 'same', h: 28, w: 28 }, { b: 3, c: 64, k: 2, s: 2, pad: 'valid', h: 14, w: 14 });
      test.each(cases)('%j', async ({ b, c, k, s, pad, h = 7, w = 9 }) => {
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

    // Unlike tfjs cpu (whose max ignores a NaN unless the whole window is NaN), the native
    // MaxPool lets a NaN win its window, so a non-finite activation is never hidden; both
    // micro-kernel settings, and channels past the last multiple of 8, follow that rule.
    test('MaxPool: a NaN wins its window; every other output is the window maximum', async () => {
      await tf.setBackend('native');
      const [b, h, w, c] = [2, 6, 6, 11];
      const values = randomValues(b * h * w * c, 30);
      for (let i = 0; i < values.length; i += 37) values[i] = Number.NaN;
      const x = tf.tensor4d(values, [b, h, w, c]);
      const y = tf.maxPool(x, 2, 2, 'valid');
      const got = y.dataSync();
      tf.dispose([x, y]);
      let nans = 0;
      for (let n = 0; n < b; n++)
        for (let oy = 0; oy < h / 2; oy++)
          for (let ox = 0; ox < w / 2; ox++)
            for (let ch = 0; ch < c; ch++) {
              let m = Number.NEGATIVE_INFINITY;
              for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
                const v = values[((n * h + 2 * oy + dy) * w + 2 * ox + dx) * c + ch]!;
                if (v > m || Number.isNaN(v)) m = v;
                if (Number.isNaN(m)) break;
              }
              const out = got[((n * (h / 2) + oy) * (w / 2) + ox) * c + ch]!;
              if (Number.isNaN(m)) nans++;
              expect(Number.isNaN(m) ? Number.isNaN(out) : out === m).toBe(true);
            }
      expect(nans).toBeGreaterThan(0);
    });

    describe('BatchMatMul and _FusedMatMul', () => {
      const dims: [number, number, number][] = [[1, 7, 9], [10, 33, 16], [64, 1, 9], [13, 200, 21], [10, 300, 130], [300, 10, 40], [6, 1100, 20], [50, 784, 200],
        // Few rows, many: the k-split of gemm_parallel (each thread a run of B's rows).
        [10, 1500, 260]];
      const cases = dims.flatMap((d) => [false, true].flatMap((ta) => [false, true].map((tb) => ({ d, ta, tb }))));
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
          const a = tf.tensor2d(randomValues(10 * 700, 14), [10, 700]);
          const b = tf.tensor2d(randomValues(700 * 11, 15), [700, 11]);
          const bias = tf.tensor1d(randomValues(11, 16));
          const y = tf.fused.matMul({ a, b, bias, activation });
          const g = tf.grads((aa: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) => tf.fused.matMul({ a: aa as tf.Tensor2D, b: bb as tf.Tensor2D, bias: cc, activation }).sum())([a, b, bias]);
          return [y, ...g];
        });
      });
    });
  });
}

maybe('bad input reaching the addon', () => {
  // The addon's errors come from Node's own realm, not jest's: compare names, not constructors.
  const errorOf = (f: () => void): { name: string; message: string } => {
    try {
      f();
    } catch (e) {
      return { name: (e as Error).name, message: (e as Error).message };
    }
    throw new Error('expected a throw');
  };
  test('too-short arrays and wrong types are typed errors, and the addon keeps working', () => {
    const a = new Float32Array(6);
    expect(errorOf(() => addon!.matmul(a, new Float32Array(6), new Float32Array(3), null, false, 1, 0, 0, 3, 3, 2, false, false)))
      .toEqual({ name: 'RangeError', message: 'fedlink native: c has 3 elements, needs 9' });
    expect(errorOf(() => addon!.matmul(a, new Float64Array(6) as unknown as Float32Array, new Float32Array(9), null, false, 1, 0, 0, 3, 3, 2, false, false)))
      .toEqual({ name: 'TypeError', message: 'fedlink native: b must be a Float32Array' });
    expect(errorOf(() => addon!.conv2dForward(a, a, a, null, false, new Int32Array(3))))
      .toEqual({ name: 'TypeError', message: 'fedlink native: dims must be an Int32Array of 15' });
    const c = new Float32Array(4);
    addon!.matmul(Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), c, Float32Array.of(1, -100), true, 1, 0, 0, 2, 2, 2, false, false);
    expect(Array.from(c)).toEqual([20, 0, 44, 0]);
  });
});
