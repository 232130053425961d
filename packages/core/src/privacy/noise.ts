/**
 * Noise for differential privacy, drawn from the platform's CSPRNG (WebCrypto
 * `crypto.getRandomValues`, in Node and browsers), never Math.random or the seeded PRNG of
 * rng.ts: a predictable noise stream can be subtracted, and the privacy with it.
 *
 * - Gaussian: Box–Muller on 53-bit uniforms (two 32-bit words each), float64.
 * - Discrete Gaussian N_Z(0, sigma^2): the rejection sampler of Canonne, Kamath and Steinke 2020
 *   ("The Discrete Gaussian for Differential Privacy", Algorithm 3: a discrete Laplace proposal
 *   of scale t = floor(sigma) + 1, accepted with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2))),
 *   with the discrete Laplace drawn as a difference of two geometric variables. It runs in float64
 *   arithmetic, not in the exact rational arithmetic of their paper; for the sigma used here
 *   (10^6 and more in integer units) the floating-point error is far below one integer step.
 */

/** Fills `out` with uniforms in [0, 1) of 53 random bits each, from the CSPRNG. */
export function secureUniforms(out: Float64Array): Float64Array {
  const c = globalThis.crypto;
  if (!c?.getRandomValues) throw new Error('no CSPRNG: crypto.getRandomValues is not available');
  const CHUNK = 16_384; // words: getRandomValues fills at most 65536 bytes per call
  const words = new Uint32Array(Math.min(CHUNK, 2 * out.length));
  for (let start = 0; start < out.length; start += words.length / 2) {
    c.getRandomValues(words);
    const n = Math.min(words.length / 2, out.length - start);
    for (let i = 0; i < n; i++) out[start + i] = ((words[2 * i]! >>> 5) * 67_108_864 + (words[2 * i + 1]! >>> 6)) / 9_007_199_254_740_992;
  }
  words.fill(0);
  return out;
}

/** `n` independent N(0, std^2) draws (Box–Muller; u1 taken in (0, 1] so the log is finite). */
export function gaussianNoise(n: number, std: number): Float64Array {
  if (!(std >= 0 && Number.isFinite(std))) throw new RangeError(`noise std must be a finite number >= 0, got ${std}`);
  const out = new Float64Array(n);
  if (std === 0 || n === 0) return out;
  const u = secureUniforms(new Float64Array(2 * Math.ceil(n / 2)));
  for (let i = 0; i < n; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(1 - u[i]!));
    const theta = 2 * Math.PI * u[i + 1]!;
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
  u.fill(0);
  return out;
}

/** Adds N(0, std^2) to every entry of `v` in place; returns v. */
export function addGaussianNoise<T extends Float32Array | Float64Array>(v: T, std: number): T {
  const noise = gaussianNoise(v.length, std);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! + noise[i]!;
  noise.fill(0);
  return v;
}

/** A pool of CSPRNG uniforms drawn in batches (the rejection samplers need a variable count). */
class UniformPool {
  private buf = new Float64Array(4096);
  private at = this.buf.length;
  next(): number {
    if (this.at >= this.buf.length) {
      secureUniforms(this.buf);
      this.at = 0;
    }
    return this.buf[this.at++]!;
  }
  wipe(): void {
    this.buf.fill(0);
  }
}

/** Geometric on {0, 1, ...} with P(k) = (1 - p) p^k, p = exp(-1/t), by inversion. */
function geometric(pool: UniformPool, t: number): number {
  // k = floor(log(U) / log(p)) with U in (0, 1]
  return Math.floor(Math.log(1 - pool.next()) * -t);
}

/** `n` independent draws of the discrete Gaussian N_Z(0, sigma^2) (integers as float64). */
export function discreteGaussianNoise(n: number, sigma: number): Float64Array {
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new RangeError(`discrete Gaussian sigma must be a finite number >= 0, got ${sigma}`);
  const out = new Float64Array(n);
  if (sigma === 0) return out;
  const pool = new UniformPool();
  const t = Math.floor(sigma) + 1;
  const s2 = sigma * sigma;
  for (let i = 0; i < n; i++) {
    for (;;) {
      // Discrete Laplace of scale t: the difference of two iid geometrics.
      const y = geometric(pool, t) - geometric(pool, t);
      const d = Math.abs(y) - s2 / t;
      if (pool.next() < Math.exp(-(d * d) / (2 * s2))) {
        out[i] = y;
        break;
      }
    }
  }
  pool.wipe();
  return out;
}
