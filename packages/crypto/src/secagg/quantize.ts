import { FedlinkError } from '@fedlink/protocol';
import { randomWords } from './prg.js';

/**
 * Quantisation of example-weighted updates into Z_2^32, where masks live.
 *
 * Client i with n_i examples and delta d_i sends, per entry, the integer
 *   q = floor(s * n_i * clip(d, -C, C) + u),   u uniform in [0, 1) from the CSPRNG
 * in two's complement mod 2^32 (stochastic rounding: E[q] = s * n_i * clip(d), |error| < 1), and
 * its example count n_i as one extra word, masked like the rest, so the coordinator learns only
 * the sum of counts. The coordinator decodes the summed words as signed 32-bit integers and
 * divides by s.
 *
 * Range: the scale s = (2^31 - 1 - m) / (C * W), with m participants and W = sum of their
 * announced example caps, guarantees |sum of q| <= s * C * sum(n_i) + m <= 2^31 - 1, so the
 * signed decoding never wraps, whoever drops out. The count word needs W <= 2^31 - 1.
 *
 * Error bound: each client is off by less than one quantum 1/s in weighted-sum units, so the
 * decoded weighted sum is within count / s = count * C * W / (2^31 - 1 - m) of
 * sum n_i clip(d_i), per entry; divided by the survivors' total examples this is the bound on the
 * mean delta (e.g. 100 clients, C = 1, no dropouts: < 4.7e-8). The errors are independent and
 * zero-mean, so the typical error is ~sqrt(count) / (2 s). Clipping is a separate, deliberate bias:
 * entries beyond +-C are cut (clients count them).
 */
export const MAX_SIGNED = 0x7fff_ffff;

export function quantizationScale(clipRange: number, totalMaxExamples: number, participants: number): number {
  if (!(clipRange > 0 && Number.isFinite(clipRange))) throw new RangeError(`clip range must be finite and > 0, got ${clipRange}`);
  if (!(Number.isSafeInteger(totalMaxExamples) && totalMaxExamples >= 1 && totalMaxExamples <= MAX_SIGNED)) {
    throw new RangeError(`total example cap must be in [1, 2^31 - 1], got ${totalMaxExamples}`);
  }
  return (MAX_SIGNED - participants) / (clipRange * totalMaxExamples);
}

/** Per-entry bound on |decoded weighted sum - sum of n_i * clip(d_i)| for `count` contributors. */
export function weightedSumErrorBound(scale: number, count: number): number {
  return count / scale;
}

export interface QuantizeResult {
  /** Entries that were outside [-C, C] and got clipped. */
  clipped: number;
}

/**
 * Writes the quantised weighted update into out[0 .. length-1] and numExamples into out[length].
 * Throws `non_finite` on NaN or infinite entries (they'd silently poison the whole aggregate).
 */
export async function quantizeWeightedUpdate(
  delta: ArrayLike<number>,
  numExamples: number,
  clipRange: number,
  scale: number,
  out: Uint32Array,
): Promise<QuantizeResult> {
  const length = delta.length;
  if (out.length !== length + 1) throw new RangeError(`output must have ${length + 1} words`);
  const noise = await randomWords(length);
  const factor = scale * numExamples;
  const TWO_POW_M32 = 2 ** -32;
  let clipped = 0;
  for (let i = 0; i < length; i++) {
    let v = delta[i]!;
    if (v - v !== 0) throw new FedlinkError('non_finite', `update entry ${i} is not finite`);
    if (v > clipRange) {
      v = clipRange;
      clipped++;
    } else if (v < -clipRange) {
      v = -clipRange;
      clipped++;
    }
    out[i] = Math.floor(v * factor + noise[i]! * TWO_POW_M32); // negative values wrap to two's complement
  }
  out[length] = numExamples;
  noise.fill(0);
  return { clipped };
}

/** Decodes summed words: signed 32-bit entries divided by the scale. */
export function dequantizeSum(sum: Uint32Array, vectorLength: number, scale: number): Float64Array {
  const out = new Float64Array(vectorLength);
  const inv = 1 / scale;
  for (let i = 0; i < vectorLength; i++) out[i] = (sum[i]! | 0) * inv;
  return out;
}
