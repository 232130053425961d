// Distributed DP under SecAgg+: clients clip, quantise with weight 1 and add discrete Gaussian
// noise shares before masking; the unmasked sum carries the configured noise, with and without
// dropouts, and clipping bounds every client's contribution.
import { clipToNorm, discreteGaussianNoise, l2Norm } from '@fedlink/core';
import { type SecAggInput, setupDigest, sizeDistributedDp } from '@fedlink/crypto';
import { feasibleDrops, makeSim, runSim } from './secagg-sim.js';

const D = 20_000;
const N = 10;
const Z = 1.2;
const C = 0.5;

function std(v: ArrayLike<number>): number {
  let s = 0;
  let q = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return Math.sqrt(q / (v.length - 1));
}

function dpSim(input: (i: number) => Float32Array, expectedSurvivors = N) {
  const sizing = sizeDistributedDp({ l2Clip: C, noiseMultiplier: Z, participants: N, expectedSurvivors, vectorLength: D });
  const sim = makeSim({ n: N, vectorLength: D, maxExamples: 1, clipRange: sizing.clipRange, dp: sizing.dp });
  const sigma = sim.server.params.dp!.noiseSigma;
  sim.inputs = sim.inputs.map((_, i): SecAggInput => ({ delta: clipToNorm(input(i), C).clipped, numExamples: 50 + i, dpNoise: discreteGaussianNoise(D, sigma) }));
  return { sim, sizing };
}

test('sizing: shares carry z times the integer sensitivity s*C + sqrt(d) over the expected survivors', () => {
  const s = sizeDistributedDp({ l2Clip: C, noiseMultiplier: Z, participants: N, expectedSurvivors: 8, vectorLength: D });
  expect(s.dp.shareStd * Math.sqrt(8)).toBeGreaterThanOrEqual(Z * (C + Math.sqrt(D) / s.scale));
  expect(s.dp.shareStd * Math.sqrt(8)).toBeLessThan(Z * (C + Math.sqrt(D) / s.scale) * 1.001);
  // Room for 10 standard deviations of all N shares beyond the clipped entries, at this scale.
  expect(s.scale * (N * C + 10 * s.dp.shareStd * Math.sqrt(N)) + N).toBeLessThanOrEqual(2 ** 31 - 1);
  expect(() => sizeDistributedDp({ l2Clip: C, noiseMultiplier: Z, participants: N, expectedSurvivors: N + 1, vectorLength: D })).toThrow(RangeError);
});

test('the unmasked sum of all-zero updates has std z*C (in delta units) with every client in', async () => {
  const { sim, sizing } = dpSim(() => new Float32Array(D));
  const result = await runSim(sim);
  expect(result.count).toBe(N);
  expect(result.totalExamples).toBe(N); // every client counts 1 under distributed DP
  const want = sizing.dp.shareStd * Math.sqrt(N); // = z * (C + sqrt(d)/s), i.e. z*C up to 1e-4
  expect(Math.abs(want / (Z * C) - 1)).toBeLessThan(1e-3);
  // n = 20000 entries: the sample std is within 4 standard errors (2%) of the truth but for ~6e-5.
  expect(Math.abs(std(result.weightedSum) / want - 1)).toBeLessThan(0.02);
}, 60_000);

test('with dropouts the survivors carry z * sqrt(survivors / expected): what the accountant charges', async () => {
  const { sim, sizing } = dpSim(() => new Float32Array(D));
  const gone = feasibleDrops(sim, 3, 5);
  const result = await runSim(sim, { masked: gone });
  expect(result.count).toBe(N - 3);
  const want = sizing.dp.shareStd * Math.sqrt(N - 3);
  expect(Math.abs(std(result.weightedSum) / want - 1)).toBeLessThan(0.02);
}, 60_000);

test('clipping bounds every client: a huge update moves the sum by at most C (plus noise)', async () => {
  // Client 0 sends a huge update, the others zero; the sum minus noise is client 0's clipped delta.
  const huge = Float32Array.from({ length: D }, (_, j) => (j % 3 === 0 ? 1e4 : -2e3));
  const { sim } = dpSim((i) => (i === 0 ? huge : new Float32Array(D)));
  expect(l2Norm(sim.inputs[0]!.delta)).toBeLessThanOrEqual(C * (1 + 1e-9));
  const result = await runSim(sim);
  // Project the sum on client 0's direction: signal C plus N(0, (zC)^2) noise.
  const dir = sim.inputs[0]!.delta;
  let dot = 0;
  for (let j = 0; j < D; j++) dot += (result.weightedSum[j]! * dir[j]!) / C;
  expect(Math.abs(dot - C)).toBeLessThan(5 * Z * C);
});

test('a client that does not clip, or gives no noise share, is refused before masking; the setup binds dp', async () => {
  const { sim } = dpSim(() => new Float32Array(D));
  sim.inputs[2] = { delta: Float32Array.from({ length: D }, () => 1), numExamples: 1, dpNoise: new Float64Array(D) };
  await expect(runSim(sim)).rejects.toThrow(/exceeds the clip/);
  const other = dpSim(() => new Float32Array(D)).sim;
  other.inputs[1] = { delta: new Float32Array(D), numExamples: 1 };
  await expect(runSim(other)).rejects.toThrow(/noise share/);
  const plain = makeSim({ n: 3, vectorLength: 4 });
  plain.inputs[0] = { ...plain.inputs[0]!, dpNoise: new Float64Array(4) };
  await expect(runSim(plain)).rejects.toThrow(/no distributed DP/);
  const setup = other.server.setup;
  expect(Buffer.from(setupDigest({ ...setup, dp: { ...setup.dp!, shareStd: setup.dp!.shareStd / 2 } })).equals(Buffer.from(setupDigest(setup)))).toBe(false);
});
