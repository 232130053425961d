import { clipToNorm, discreteGaussianNoise, gaussianNoise } from '@fedlink/core';
import type { SecAggInput } from '@fedlink/crypto';

/**
 * The client's part in differential privacy (the coordinator's is core/aggregation/dp.ts):
 * - local DP (round:start carries `privacy`): clip the delta to L2 norm C and add N(0, noiseStd^2)
 *   per entry, from the CSPRNG, before sealing; the coordinator never sees the clean delta.
 * - distributed DP (the SecAgg+ setup carries `dp`): clip to C, then a discrete Gaussian share
 *   N_Z(0, sigma^2) per entry, in the quantiser's integer units, added before masking
 *   (crypto/secagg/distributed-dp.ts); the client counts as one example.
 * Noise is never seeded: it comes from crypto.getRandomValues (core/privacy/noise.ts).
 */

/** Local DP: a new array, clipped and noised. */
export function privatizeLocally(delta: Float32Array, privacy: { clip: number; noiseStd: number }): Float32Array {
  const { clipped } = clipToNorm(delta, privacy.clip);
  const noise = gaussianNoise(clipped.length, privacy.noiseStd);
  const out = Float32Array.from(clipped, (x, i) => x + noise[i]!);
  noise.fill(0);
  return out;
}

/** Distributed DP: the masking input for a round whose setup has `dp` (l2Clip, noiseSigma in integer units). */
export function distributedDpInput(delta: Float32Array, numExamples: number, dp: { l2Clip: number; noiseSigma: number }): SecAggInput {
  const { clipped } = clipToNorm(delta, dp.l2Clip);
  return { delta: clipped, numExamples, dpNoise: discreteGaussianNoise(clipped.length, dp.noiseSigma) };
}
