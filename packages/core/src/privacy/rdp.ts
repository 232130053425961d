/**
 * Rényi-DP accounting of the sampled Gaussian mechanism (Mironov, Talwar and Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism", arXiv:1908.10530), and the
 * conversion of an RDP curve to (epsilon, delta)-DP. Pure functions on numbers; no I/O.
 *
 * Mechanism: each round every record (here: every client) is included independently with
 * probability q, the included contributions (each of L2 norm <= C) are summed and Gaussian noise
 * of std z*C is added. Neighbouring datasets differ by adding or removing one record.
 *
 * RDP at order alpha of one round: eps_RDP(alpha) = log(A_alpha) / (alpha - 1) where
 *   A_alpha = E_{x ~ N(0, z^2)} [ ((1 - q) + q * exp((2x - 1) / (2 z^2)))^alpha ]
 * computed in log space: for integer alpha by the binomial expansion (Mironov et al. Sec. 3.2),
 *   A_alpha = sum_{k=0}^{alpha} C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2 - k) / (2 z^2)),
 * and for fractional alpha by the two convergent series of their Sec. 3.3 (split at
 * z0 = z^2 log(1/q - 1) + 1/2, each term weighted by a Gaussian tail erfc). RDP composes by
 * adding over rounds, order by order.
 *
 * Conversion to (epsilon, delta): the improved bound of Balle et al. 2020 ("Hypothesis testing
 * interpretations and Rényi differential privacy", Thm 21) / Canonne, Kamath and Steinke 2020
 * (Prop. 12), the one TensorFlow Privacy (dp_accounting) and Opacus use:
 *   epsilon = rdp(alpha) + log1p(-1/alpha) - log(delta * alpha) / (alpha - 1),
 * minimised over the orders; as in dp_accounting, orders <= 1.01 give no bound, and when
 * delta^2 + expm1(-rdp) > 0 the KL bound delta <= sqrt(1 - exp(-rdp)) already gives epsilon 0.
 */

/**
 * The default orders: Opacus's and dp_accounting's list 1.1, 1.2, ..., 10.9, then 11 .. 63, plus
 * TF Privacy's compute_dp_sgd_privacy extras 1.25, 1.5, 1.75, 2.25 ... and 128, 256, 512.
 * More orders never make epsilon larger (it is a minimum over them).
 */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze(
  [...new Set([...Array.from({ length: 99 }, (_, i) => Math.round((1.1 + i / 10) * 10) / 10), 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25, 4.75, ...Array.from({ length: 53 }, (_, i) => 11 + i), 128, 256, 512])].sort((a, b) => a - b),
);

export class PrivacyParameterError extends RangeError {
  override readonly name = 'PrivacyParameterError';
}

function checkQz(q: number, z: number): void {
  if (!(q >= 0 && q <= 1)) throw new PrivacyParameterError(`sampling rate must be in [0, 1], got ${q}`);
  if (!(z >= 0 && Number.isFinite(z))) throw new PrivacyParameterError(`noise multiplier must be a finite number >= 0, got ${z}`);
}

/** log(exp(a) + exp(b)), exact for -Infinity. */
function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (hi === -Infinity) return -Infinity;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** log(exp(a) - exp(b)) for a >= b. */
function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  if (a < b) throw new PrivacyParameterError('logSub of a smaller number (numerical failure in the RDP series)');
  return a + Math.log(-Math.expm1(b - a));
}

/** log Gamma for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const xx = x - 1;
  let a = c[0]!;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log C(n, k) for integers 0 <= k <= n. */
function logBinomInt(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * log(erfc(x)) for any real x, accurate in the far tail (where erfc underflows): a Chebyshev
 * fit of erfc (Numerical Recipes' erfcc, relative error < 1.2e-7) for moderate x, the
 * asymptotic series for x > 25.
 */
export function logErfc(x: number): number {
  if (x > 25) {
    // erfc(x) ~ exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6))
    const x2 = x * x;
    return -x2 - Math.log(x) - 0.5 * Math.log(Math.PI) + Math.log1p(-1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2));
  }
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logPos = Math.log(t) + poly; // log erfc(|x|)
  return x >= 0 ? logPos : Math.log(2 - Math.exp(logPos));
}

/** log A_alpha for integer alpha >= 2 (binomial expansion). */
function logAInt(q: number, z: number, alpha: number): number {
  let logA = -Infinity;
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  for (let k = 0; k <= alpha; k++) {
    const term = logBinomInt(alpha, k) + k * lq + (alpha - k) * l1q + (k * k - k) / (2 * z * z);
    logA = logAdd(logA, term);
  }
  return logA;
}

/** log A_alpha for fractional alpha > 1 (the two series of Mironov et al. Sec. 3.3). */
function logAFrac(q: number, z: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = z * z * Math.log(1 / q - 1) + 0.5;
  const lq = Math.log(q);
  const l1q = Math.log1p(-q);
  let logCoef = 0; // log |C(alpha, i)|
  let coefSign = 1;
  for (let i = 0; i < 100_000; i++) {
    if (i > 0) {
      const factor = (alpha - (i - 1)) / i; // C(alpha, i) = C(alpha, i-1) (alpha - i + 1) / i
      if (factor === 0) break;
      logCoef += Math.log(Math.abs(factor));
      if (factor < 0) coefSign = -coefSign;
    }
    const j = alpha - i;
    const logT0 = logCoef + i * lq + j * l1q;
    const logT1 = logCoef + j * lq + i * l1q;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * z));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * z));
    const logS0 = logT0 + (i * i - i) / (2 * z * z) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * z * z) + logE1;
    if (coefSign > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/**
 * RDP of one round of the sampled Gaussian mechanism at order alpha (> 1, may be Infinity).
 * q = 0: 0; z = 0 (no noise): Infinity; q = 1: the plain Gaussian's alpha / (2 z^2).
 */
export function rdpSampledGaussian(q: number, z: number, alpha: number): number {
  checkQz(q, z);
  if (!(alpha > 1)) throw new PrivacyParameterError(`RDP order must be > 1, got ${alpha}`);
  if (q === 0) return 0;
  if (z === 0 || alpha === Infinity) return Infinity;
  if (q === 1) return alpha / (2 * z * z);
  const logA = Number.isInteger(alpha) ? logAInt(q, z, alpha) : logAFrac(q, z, alpha);
  return Math.max(0, logA / (alpha - 1));
}

/** RDP of `steps` rounds at each order (composition adds). */
export function computeRdp(q: number, z: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): Float64Array {
  if (!(Number.isInteger(steps) && steps >= 0)) throw new PrivacyParameterError(`steps must be an integer >= 0, got ${steps}`);
  return Float64Array.from(orders, (alpha) => (steps === 0 ? 0 : steps * rdpSampledGaussian(q, z, alpha)));
}

export interface EpsilonAndOrder {
  epsilon: number;
  /** The order that gave the smallest epsilon (NaN when none gave a finite bound). */
  order: number;
}

/** (epsilon, delta)-DP from an RDP curve, by the improved conversion (see the file comment). */
export function epsilonFromRdp(orders: readonly number[], rdp: ArrayLike<number>, delta: number): EpsilonAndOrder {
  if (!(delta > 0 && delta < 1)) throw new PrivacyParameterError(`delta must be in (0, 1), got ${delta}`);
  if (orders.length !== rdp.length) throw new PrivacyParameterError(`${orders.length} orders but ${rdp.length} RDP values`);
  let best: EpsilonAndOrder = { epsilon: Infinity, order: NaN };
  orders.forEach((alpha, i) => {
    const r = rdp[i]!;
    if (!(r >= 0)) throw new PrivacyParameterError(`RDP values must be >= 0, got ${r} at order ${alpha}`);
    let eps: number;
    if (delta * delta + Math.expm1(-r) > 0) eps = 0;
    else if (alpha > 1.01) eps = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
    else eps = Infinity;
    eps = Math.max(0, eps);
    if (eps < best.epsilon) best = { epsilon: eps, order: alpha };
  });
  return best;
}

/** Epsilon after `steps` rounds of sampling rate q and noise multiplier z, at delta. */
export function epsilonOf(q: number, z: number, steps: number, delta: number, orders: readonly number[] = DEFAULT_ORDERS): EpsilonAndOrder {
  return epsilonFromRdp(orders, computeRdp(q, z, steps, orders), delta);
}

/**
 * The smallest noise multiplier (to a relative precision of 1e-6) whose `steps` rounds at
 * sampling rate q stay within targetEpsilon at delta, by bisection (epsilon falls as z grows).
 * Throws PrivacyParameterError when even z = 1e4 does not reach the target.
 */
export function noiseMultiplierFor(targetEpsilon: number, q: number, steps: number, delta: number, orders: readonly number[] = DEFAULT_ORDERS): number {
  if (!(targetEpsilon > 0 && Number.isFinite(targetEpsilon))) throw new PrivacyParameterError(`target epsilon must be a finite number > 0, got ${targetEpsilon}`);
  const eps = (z: number): number => epsilonOf(q, z, steps, delta, orders).epsilon;
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    hi *= 2;
    if (hi > 1e4) throw new PrivacyParameterError(`no noise multiplier up to 1e4 reaches epsilon ${targetEpsilon} in ${steps} rounds at q ${q}, delta ${delta}`);
  }
  let lo = 0;
  while (hi - lo > 1e-6 * hi) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
