/**
 * Communication compression of client deltas (pure math on typed arrays, no I/O):
 *
 * - 8-bit stochastic quantisation: each entry of a tensor becomes one of 256 evenly spaced
 *   levels between the tensor's min and max, rounded up or down at random with the
 *   probabilities that make the dequantised value unbiased (E[decoded] = x).
 * - top-k sparsification with error feedback: only the k entries of largest magnitude are
 *   sent; what was left out is kept as a residual and added to the next delta, so nothing is
 *   lost over rounds (Stich et al. 2018, "Sparsified SGD with memory").
 *
 * The wire encodings of both are in @fedlink/protocol's tensor codec; the client keeps the
 * residual (one per client).
 */

/** Number of quantisation steps between a tensor's min and max (256 levels: 0..255). */
export const Q8_STEPS = 255;

export interface Quantized8Range {
  lo: number;
  hi: number;
}

/**
 * Stochastic 8-bit quantisation of `x` into `out` (same length): level q in 0..255 with
 * value lo + q * (hi - lo) / 255, where lo/hi are x's min/max (as float32, so the decoder's
 * arithmetic sees exactly these numbers). `random()` must be uniform in [0, 1).
 * Non-finite input is refused (its range would be meaningless).
 */
export function stochasticQuantize8(x: Float32Array, random: () => number, out: Uint8Array): Quantized8Range {
  if (out.length !== x.length) throw new RangeError(`output has ${out.length} entries, input ${x.length}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`cannot quantise a non-finite tensor (entry ${i} is ${v})`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (x.length === 0) return { lo: 0, hi: 0 };
  const step = (hi - lo) / Q8_STEPS;
  if (step === 0) {
    out.fill(0);
    return { lo, hi };
  }
  const inv = 1 / step;
  for (let i = 0; i < x.length; i++) {
    const t = (x[i]! - lo) * inv;
    const q = Math.floor(t + random());
    out[i] = q < 0 ? 0 : q > Q8_STEPS ? Q8_STEPS : q;
  }
  return { lo, hi };
}

/** The value of quantisation level `q` in range (lo, hi): the decoder's formula. */
export function dequantize8Level(q: number, lo: number, hi: number): number {
  return lo + q * ((hi - lo) / Q8_STEPS);
}

/**
 * The indices of the k entries of `x` with the largest magnitude, ascending. Ties at the
 * threshold go to the lower index, so the result is a function of x and k alone. O(n) expected
 * (quickselect on the magnitudes).
 */
export function topKIndices(x: Float32Array, k: number): Uint32Array {
  const n = x.length;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`k must be an integer in [0, ${n}], got ${k}`);
  if (k === 0) return new Uint32Array(0);
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(x[i]!);
  // The k-th largest magnitude: select position n - k of the ascending order.
  const threshold = selectNth(mags, n - k);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i]!) > threshold) above++;
  let ties = k - above;
  const out = new Uint32Array(k);
  let j = 0;
  for (let i = 0; i < n && j < k; i++) {
    const m = Math.abs(x[i]!);
    if (m > threshold) out[j++] = i;
    else if (m === threshold && ties > 0) {
      out[j++] = i;
      ties--;
    }
  }
  return out;
}

/** The nth smallest value of `a` (0-based); reorders `a`. Hoare quickselect with a median-of-three pivot. */
function selectNth(a: Float32Array, nth: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const mid = (left + right) >>> 1;
    const p = median3(a[left]!, a[mid]!, a[right]!);
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (nth <= j) right = j;
    else if (nth >= i) left = i;
    else return a[nth]!;
  }
  return a[nth]!;
}

const median3 = (a: number, b: number, c: number): number => (a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b);

/** The values of `x` at `indices`. */
export function gather(x: Float32Array, indices: Uint32Array): Float32Array {
  const out = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = x[indices[i]!]!;
  return out;
}

/** Error feedback, step 1: the delta this round plus what earlier rounds left out (a new array). */
export function withResidual(delta: Float32Array, residual: Float32Array | undefined): Float32Array {
  const out = new Float32Array(delta);
  if (residual) {
    if (residual.length !== delta.length) throw new RangeError(`residual has ${residual.length} entries, delta ${delta.length}`);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + residual[i]!;
  }
  return out;
}

/**
 * Error feedback, step 2: what the sparse message left out of `corrected` (corrected minus
 * what was sent: `corrected` with the sent entries zeroed; a new array). The sent values are
 * exact float32 copies, so corrected = sent + residual exactly.
 */
export function residualAfterSparse(corrected: Float32Array, sentIndices: Uint32Array): Float32Array {
  const out = new Float32Array(corrected);
  for (let i = 0; i < sentIndices.length; i++) out[sentIndices[i]!] = 0;
  return out;
}
