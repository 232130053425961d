// Statistical tests of the DP noise: the aggregate of all-zero updates has the configured std,
// clipping bounds every client's contribution, and the samplers have the moments they claim.
import { describeStrategy, DpAggregator, Strategy, WeightedMeanAggregator, clipToNorm, discreteGaussianNoise, gaussianNoise, l2Norm, parseStrategySpec, secureUniforms } from '@fedlink/core';

/** Sample mean and std of a vector. */
function moments(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / (v.length - 1)) };
}

// With n = 200000 draws the sample std of a Gaussian is within 4 standard errors
// (std * 4 / sqrt(2n) ~ 0.63%) of the truth except with probability ~6e-5: bounds of 1% fail
// only when the std is really off.
const N = 200_000;

test('central DP: the mean of 10 all-zero updates is N(0, (zC/10)^2) per entry', () => {
  const z = 1.3;
  const clip = 0.5;
  const round = new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip, noiseMultiplier: z }).begin(N);
  for (let i = 0; i < 10; i++) round.add(new Float32Array(N), 1 + i);
  const { meanDelta, count, metrics } = round.finish();
  expect(count).toBe(10);
  expect(metrics.clipped).toBe(0);
  const { mean, std } = moments(meanDelta);
  const want = (z * clip) / 10;
  expect(Math.abs(std - want) / want).toBeLessThan(0.01);
  expect(Math.abs(mean)).toBeLessThan((4 * want) / Math.sqrt(N));
});

test('central DP: the noise is fresh every round (two rounds of zero updates are uncorrelated)', () => {
  const make = () => {
    const r = new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 1 }).begin(50_000);
    r.add(new Float32Array(50_000), 1);
    return r.finish().meanDelta;
  };
  const a = make();
  const b = make();
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  expect(Math.abs(dot / a.length)).toBeLessThan(4 / Math.sqrt(a.length)); // correlation ~ N(0, 1/n)
});

test('clipping bounds every client: one huge update moves the noiseless sum by at most C', () => {
  const clip = 2;
  const huge = Float32Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1e6 : -3e5));
  const small = Float32Array.from({ length: 1000 }, () => 1e-4);
  expect(l2Norm(clipToNorm(huge, clip).clipped)).toBeCloseTo(clip, 9);
  expect(Array.from(clipToNorm(small, clip).clipped)).toEqual(Array.from(small, (x) => Math.fround(x))); // within the bound: unchanged
  // Sum of 5 clients, one of them huge, minus the sum without it: norm <= C (noise negligible here).
  const agg = (withHuge: boolean) => {
    const r = new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip, noiseMultiplier: 1e-9 }).begin(1000);
    for (let i = 0; i < 4; i++) r.add(small, 10);
    if (withHuge) r.add(huge, 10_000);
    const res = r.finish();
    return Float64Array.from(res.meanDelta, (x) => x * res.count);
  };
  const diff = agg(true).map((x, i) => x - agg(false)[i]!);
  expect(l2Norm(diff)).toBeLessThanOrEqual(clip * (1 + 1e-5));
  expect(l2Norm(diff)).toBeGreaterThan(clip * 0.999);
});

test('central DP refuses pre-summed groups and works with every server optimizer', () => {
  const dp = new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 1 });
  expect(dp.needsIndividualUpdates).toBe(true);
  expect(() => dp.begin(3).addWeightedSum(new Float64Array(3), 2, 2)).toThrow(/individual updates/);
  for (const optimizer of [{ kind: 'sgd', lr: 1 }, { kind: 'momentum', lr: 1, momentum: 0.9 }, { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }]) {
    const spec = parseStrategySpec({ name: 'dp', aggregator: { kind: 'mean' }, optimizer, wrappers: [{ kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 0.5 }] });
    const round = Strategy.fromSpec(spec).beginRound(new Float32Array(4));
    round.add(Float32Array.of(3, 4, 0, 0), 5);
    const { weights, metrics } = round.finish();
    expect(weights.every(Number.isFinite)).toBe(true);
    expect(metrics.clipped).toBe(1);
  }
});

test('adaptive clipping moves the bound towards the target quantile and checkpoints it', () => {
  const spec = { kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 1, adaptive: { targetQuantile: 0.5, learningRate: 0.2, countStd: 1 } } as const;
  const dp = new DpAggregator(new WeightedMeanAggregator(), spec);
  // All 50 updates have norm 10 > C: the unclipped fraction is ~0, so C grows by ~exp(0.1) per round.
  for (let r = 0; r < 20; r++) {
    const round = dp.begin(2);
    for (let i = 0; i < 50; i++) round.add(Float32Array.of(6, 8), 1);
    round.finish();
  }
  expect(dp.clip).toBeGreaterThan(Math.exp(0.1 * 20) * 0.8);
  expect(dp.wrapperState().clip![0]).toBeCloseTo(dp.clip, 3);
  const again = new DpAggregator(new WeightedMeanAggregator(), spec);
  again.restoreWrapperState(dp.wrapperState());
  expect(again.clip).toBeCloseTo(dp.clip, 3);
  expect(() => again.restoreWrapperState({ other: new Float32Array(1) })).toThrow(RangeError);
  // Delta noise raised so that both queries together cost one query of multiplier z.
  expect(dp.deltaNoiseStd / dp.clip).toBeCloseTo((1 - 0.25) ** -0.5, 9);
  expect(() => new DpAggregator(new WeightedMeanAggregator(), { ...spec, adaptive: { ...spec.adaptive, countStd: 0.4 } })).toThrow(/countStd/);
});

test('describeStrategy names the dp wrapper and its nested parameters', () => {
  const spec = parseStrategySpec({ name: 'fedavg', aggregator: { kind: 'mean' }, optimizer: { kind: 'sgd', lr: 1 }, wrappers: [{ kind: 'dp', mode: 'central', clip: 0.3, noiseMultiplier: 1.2, adaptive: { targetQuantile: 0.5, learningRate: 0.2, countStd: 1 } }] });
  expect(describeStrategy(spec)).toBe('fedavg (mean -> sgd lr 1, with dp mode central clip 0.3 noiseMultiplier 1.2 adaptive {"targetQuantile":0.5,"learningRate":0.2,"countStd":1})');
});

test('bad DP specs are refused by the strategy schema', () => {
  const base = { name: 'dp', aggregator: { kind: 'mean' }, optimizer: { kind: 'sgd', lr: 1 } };
  expect(() => parseStrategySpec({ ...base, wrappers: [{ kind: 'dp', mode: 'central', clip: 0, noiseMultiplier: 1 }] })).toThrow(/clip/);
  expect(() => parseStrategySpec({ ...base, wrappers: [{ kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: -1 }] })).toThrow(/noiseMultiplier/);
  expect(() => parseStrategySpec({ ...base, wrappers: [{ kind: 'dp', mode: 'sideways', clip: 1, noiseMultiplier: 1 }] })).toThrow(/mode/);
});

describe('samplers', () => {
  test('uniforms are in [0, 1) with mean 1/2 and variance 1/12', () => {
    const u = secureUniforms(new Float64Array(N));
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
    const { mean, std } = moments(u);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.003);
    expect(Math.abs(std - Math.sqrt(1 / 12)) / Math.sqrt(1 / 12)).toBeLessThan(0.01);
  });

  test('Gaussian noise has the asked std, zero mean and Gaussian tails', () => {
    const v = gaussianNoise(N, 3);
    const { mean, std } = moments(v);
    expect(Math.abs(std - 3) / 3).toBeLessThan(0.01);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    const beyond2 = v.filter((x) => Math.abs(x) > 6).length / N; // P(|X| > 2 sigma) = 0.0455
    expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(0.003);
  });

  test.each([0.7, 5, 1e6])('discrete Gaussian of sigma %p: integers with variance sigma^2', (sigma) => {
    const n = sigma < 1 ? N : 50_000;
    const v = discreteGaussianNoise(n, sigma);
    expect(v.every(Number.isInteger)).toBe(true);
    const { mean, std } = moments(v);
    // For sigma >= 1 the variance of N_Z(0, sigma^2) equals sigma^2 to within 1e-8 (CKS 2020, Cor. 18);
    // for sigma = 0.7 it is sum_k k^2 e^{-k^2/(2 sigma^2)} / sum_k e^{-k^2/(2 sigma^2)}.
    let num = 0;
    let den = 0;
    for (let k = -50; k <= 50; k++) {
      const w = Math.exp(-(k * k) / (2 * sigma * sigma));
      num += k * k * w;
      den += w;
    }
    const want = sigma < 1 ? Math.sqrt(num / den) : sigma;
    expect(Math.abs(std - want) / want).toBeLessThan(sigma < 1 ? 0.01 : 0.02);
    expect(Math.abs(mean)).toBeLessThan((5 * want) / Math.sqrt(n));
  });
});
