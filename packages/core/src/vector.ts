/** Small pure helpers on flat parameter vectors. */

/** Index of the first NaN or +-Infinity, or -1. */
export function firstNonFinite(v: ArrayLike<number>): number {
  if (v instanceof Float32Array) return firstNonFiniteFloat32(v);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    // x - x is NaN exactly for NaN and +-Infinity; cheaper than Number.isFinite in hot loops.
    if (x - x !== 0) return i;
  }
  return -1;
}

/**
 * The float32 case on the bits: NaN and +-Infinity are exactly the values whose 8 exponent bits
 * are all ones. An integer test on a Uint32Array view: 0.27 against 0.89 ms for a 0.8 MB MLP
 * delta in bench:coordinator (the coordinator checks every sealed update).
 */
function firstNonFiniteFloat32(v: Float32Array): number {
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
  }
  return -1;
}

export function l2Norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** a + b, elementwise, into a new Float32Array. */
export function add(a: Float32Array, b: ArrayLike<number>): Float32Array {
  assertSameLength(a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

export function assertSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`vector lengths differ: ${a.length} vs ${b.length}`);
}
