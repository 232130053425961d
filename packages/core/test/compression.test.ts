import { Q8_STEPS, createRng, dequantize8Level, gather, residualAfterSparse, stochasticQuantize8, topKIndices, withResidual } from '@fedlink/core';

const vector = (n: number, seed: number, scale = 1): Float32Array => {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
};

describe('8-bit stochastic quantisation', () => {
  test('levels span [min, max]: the extremes are exact and every entry is within one step', () => {
    const x = vector(1000, 1, 0.3);
    const rng = createRng(7);
    const levels = new Uint8Array(x.length);
    const { lo, hi } = stochasticQuantize8(x, () => rng.next(), levels);
    expect(lo).toBe(Math.min(...x));
    expect(hi).toBe(Math.max(...x));
    const step = (hi - lo) / Q8_STEPS;
    x.forEach((v, i) => {
      const d = dequantize8Level(levels[i]!, lo, hi);
      expect(Math.abs(d - v)).toBeLessThanOrEqual(step * (1 + 1e-6));
    });
    expect(dequantize8Level(levels[x.indexOf(lo)]!, lo, hi)).toBe(lo);
    expect(dequantize8Level(levels[x.indexOf(hi)]!, lo, hi)).toBeCloseTo(hi, 12);
  });

  test('unbiased: the mean of many independent draws converges on each entry (within 5 standard errors)', () => {
    const x = vector(64, 2, 0.05);
    const draws = 4000;
    const rng = createRng(11);
    const sums = new Float64Array(x.length);
    const levels = new Uint8Array(x.length);
    let range = { lo: 0, hi: 0 };
    for (let d = 0; d < draws; d++) {
      range = stochasticQuantize8(x, () => rng.next(), levels);
      for (let i = 0; i < x.length; i++) sums[i] += dequantize8Level(levels[i]!, range.lo, range.hi);
    }
    const step = (range.hi - range.lo) / Q8_STEPS;
    // A draw is one of two neighbouring levels: its standard deviation is at most step / 2.
    const tolerance = (5 * step) / 2 / Math.sqrt(draws);
    let biasedByNearest = 0;
    x.forEach((v, i) => {
      expect(Math.abs(sums[i]! / draws - v)).toBeLessThanOrEqual(tolerance);
      // Deterministic rounding would be off by up to step / 2: the test can tell the two apart.
      const nearest = dequantize8Level(Math.round((v - range.lo) / step), range.lo, range.hi);
      if (Math.abs(nearest - v) > tolerance) biasedByNearest++;
    });
    expect(biasedByNearest).toBeGreaterThan(x.length / 2);
  });

  test('a constant tensor is all level 0 at its value; a non-finite one is refused', () => {
    const levels = new Uint8Array(5);
    expect(stochasticQuantize8(new Float32Array(5).fill(0.25), Math.random, levels)).toEqual({ lo: 0.25, hi: 0.25 });
    expect(Array.from(levels)).toEqual([0, 0, 0, 0, 0]);
    expect(() => stochasticQuantize8(Float32Array.from([1, NaN, 2]), Math.random, new Uint8Array(3))).toThrow(RangeError);
    expect(() => stochasticQuantize8(Float32Array.from([1, Infinity]), Math.random, new Uint8Array(2))).toThrow(RangeError);
  });
});

describe('top-k selection', () => {
  const reference = (x: Float32Array, k: number): number[] =>
    Array.from(x, (v, i) => [Math.abs(v), i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, k)
      .map(([, i]) => i)
      .sort((a, b) => a - b);

  test('picks the k largest magnitudes, ascending, as a full sort does (random vectors, with ties)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createRng(seed);
      const n = 1 + Math.floor(rng.next() * 500);
      // Coarse values make many ties at the threshold; ties go to the lower index.
      const x = Float32Array.from({ length: n }, () => Math.round((rng.next() * 2 - 1) * 8) / 4);
      for (const k of [0, 1, Math.ceil(n / 100), Math.ceil(n / 10), n]) {
        expect(Array.from(topKIndices(x, k))).toEqual(reference(x, k));
      }
    }
  });

  test('refuses k outside [0, n]', () => {
    expect(() => topKIndices(new Float32Array(3), 4)).toThrow(RangeError);
    expect(() => topKIndices(new Float32Array(3), -1)).toThrow(RangeError);
    expect(() => topKIndices(new Float32Array(3), 1.5)).toThrow(RangeError);
  });
});

describe('error feedback', () => {
  test('corrected = sent + residual exactly, and over rounds nothing is lost', () => {
    const n = 300;
    const k = 6;
    let residual: Float32Array | undefined;
    const sentTotal = new Float64Array(n);
    const deltaTotal = new Float64Array(n);
    for (let round = 1; round <= 30; round++) {
      const delta = vector(n, 100 + round, 0.01);
      delta.forEach((v, i) => (deltaTotal[i] += v));
      const corrected = withResidual(delta, residual);
      const indices = topKIndices(corrected, k);
      const values = gather(corrected, indices);
      const next = residualAfterSparse(corrected, indices);
      const sent = new Float32Array(n);
      indices.forEach((ix, j) => (sent[ix] = values[j]!));
      for (let i = 0; i < n; i++) {
        expect(sent[i]! + next[i]!).toBe(corrected[i]!);
        sentTotal[i] += sent[i]!;
      }
      residual = next;
    }
    // Sum of what was sent + what is still pending = sum of the deltas (up to float32 rounding of the running residual).
    for (let i = 0; i < n; i++) expect(sentTotal[i]! + residual![i]!).toBeCloseTo(deltaTotal[i]!, 5);
    // ... and the residual carried something: entries left out earlier were sent later.
    expect(residual!.some((v) => v !== 0)).toBe(true);
  });

  test('a residual of another length is refused', () => {
    expect(() => withResidual(new Float32Array(3), new Float32Array(4))).toThrow(RangeError);
  });
});
