import { MAX_SIGNED, quantizationScale } from './quantize.js';

/**
 * Distributed differential privacy under SecAgg+ (the distributed discrete Gaussian of Kairouz,
 * Liu and Steinke 2021, "The Distributed Discrete Gaussian Mechanism for Federated Learning with
 * Secure Aggregation"). Each client clips its delta to L2 norm C, quantises it with weight 1
 * (stochastic rounding, quantize.ts) and adds a discrete Gaussian share N_Z(0, sigma_share^2) to
 * every integer word before masking, so the coordinator only ever unmasks a noised sum. No random
 * rotation and no conditional rounding: the rounding's worst case is charged instead, by sizing
 * the noise for the integer sensitivity s*C + sqrt(d) (each of d entries off by < 1).
 *
 * The sum of m' independent N_Z(0, sigma^2) shares is not exactly a discrete Gaussian; Kairouz et
 * al. (Thm. 1) bound the difference by tau = 10 sum_{k=1}^{m'-1} exp(-2 pi^2 sigma^2 k/(k+1)),
 * which for the sigma here (10^6 and more integer steps) is below 1e-10^12: nothing to charge.
 * A discrete Gaussian of integer sensitivity Delta has the RDP of the continuous one
 * (Canonne, Kamath and Steinke 2020), so the sampled-Gaussian accountant applies with
 * z = sigma_total / Delta.
 *
 * Dropout policy: the shares are sized for `expectedSurvivors` contributors (the coordinator uses
 * ceil(selected * (1 - expected dropout))); with m' survivors the noise multiplier is
 * z * sqrt(m' / expectedSurvivors), which is what the coordinator's accountant charges.
 *
 * Range: with caps of 1 example per client the quantisation scale is s = (2^31 - 1 - m) / (R m)
 * for the setup's clip range R; R = C + 10 * sigma_share / sqrt(m) leaves room for the noise of
 * all m participants beyond 10 standard deviations (per entry, P(wrap) < 2e-23).
 */
export interface DistributedDpSizing {
  /** The setup's per-entry clip range R (entries of an L2-clipped delta are within C <= R). */
  clipRange: number;
  /** The setup's `dp` field. */
  dp: { l2Clip: number; shareStd: number };
  /** The quantisation scale the clients will use. */
  scale: number;
}

export function sizeDistributedDp(options: { l2Clip: number; noiseMultiplier: number; participants: number; expectedSurvivors: number; vectorLength: number }): DistributedDpSizing {
  const { l2Clip: c, noiseMultiplier: z, participants: m, expectedSurvivors: me, vectorLength: d } = options;
  if (!(c > 0 && Number.isFinite(c))) throw new RangeError(`L2 clip must be finite and > 0, got ${c}`);
  if (!(z > 0 && Number.isFinite(z))) throw new RangeError(`noise multiplier must be finite and > 0, got ${z}`);
  if (!(Number.isInteger(m) && m >= 2 && m <= MAX_SIGNED)) throw new RangeError(`participants must be an integer >= 2, got ${m}`);
  if (!(Number.isInteger(me) && me >= 1 && me <= m)) throw new RangeError(`expected survivors must be an integer in [1, ${m}], got ${me}`);
  let shareStd = (z * c) / Math.sqrt(me);
  for (let i = 0; i < 4; i++) {
    const clipRange = (c + (10 * shareStd) / Math.sqrt(m)) * 1.001;
    const scale = quantizationScale(clipRange, m, m);
    const next = (z * (c + Math.sqrt(d) / scale)) / Math.sqrt(me);
    if (next <= shareStd * 1.0001 && i > 0) return { clipRange, dp: { l2Clip: c, shareStd }, scale };
    shareStd = next * 1.0001;
  }
  const clipRange = (c + (10 * shareStd) / Math.sqrt(m)) * 1.001;
  return { clipRange, dp: { l2Clip: c, shareStd }, scale: quantizationScale(clipRange, m, m) };
}
