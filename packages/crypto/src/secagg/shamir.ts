import nacl from 'tweetnacl';
import { FedlinkError } from '@fedlink/protocol';

/**
 * Shamir secret sharing (t-of-m) over the prime field GF(p), p = 2^521 - 1 (a Mersenne prime).
 * The field is large enough that a 32-byte secret (a mask seed or an X25519 secret key) is one
 * field element, so one polynomial shares it and each share is one 66-byte element. With fewer
 * than t shares every secret is equally likely: t - 1 points leave the constant term uniform.
 * Polynomial coefficients come from the platform CSPRNG (nacl.randomBytes).
 *
 * A share is the point (x, f(x)); x is the holder's roster index + 1 (public, never 0, since
 * f(0) is the secret) and only y travels.
 */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
export const SHARE_BYTES = 66;

export interface Share {
  x: number;
  y: Uint8Array;
}

const P = SHAMIR_PRIME;

function toBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function toBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError('value does not fit');
  return out;
}

/** Uniform element of GF(p): 521 random bits, rejecting the single value p itself. */
function randomElement(): bigint {
  for (;;) {
    const b = nacl.randomBytes(SHARE_BYTES);
    b[0]! &= 0x01; // 66 bytes = 528 bits; keep 521
    const v = toBigInt(b);
    if (v < P) return v;
  }
}

const mod = (a: bigint): bigint => {
  const r = a % P;
  return r < 0n ? r + P : r;
};

/** Inverse in GF(p) by the extended Euclidean algorithm (much faster than a^(p-2) with BigInt). */
function inverse(a: bigint): bigint {
  let [r0, r1] = [P, mod(a)];
  let [s0, s1] = [0n, 1n];
  if (r1 === 0n) throw new RangeError('no inverse of 0');
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

function checkX(xs: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) throw new RangeError(`share x-coordinate must be a positive integer, got ${x}`);
    if (seen.has(x)) throw new RangeError(`duplicate share x-coordinate ${x}`);
    seen.add(x);
  }
}

/**
 * Splits `secret` (at most 65 bytes) so that any `threshold` of the returned shares reconstruct
 * it. Returns one share per x in `xs`, in the same order.
 */
export function splitSecret(secret: Uint8Array, xs: readonly number[], threshold: number): Share[] {
  if (secret.length > 65) throw new RangeError('secret must be at most 65 bytes');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new RangeError(`threshold must be in [1, ${xs.length}], got ${threshold}`);
  }
  checkX(xs);
  const coeffs = [toBigInt(secret)];
  for (let i = 1; i < threshold; i++) coeffs.push(randomElement());
  const shares = xs.map((x) => {
    const bx = BigInt(x);
    let y = 0n;
    for (let i = coeffs.length - 1; i >= 0; i--) y = mod(y * bx + coeffs[i]!); // Horner
    return { x, y: toBytes(y, SHARE_BYTES) };
  });
  coeffs.fill(0n);
  return shares;
}

/**
 * Lagrange interpolation of the polynomial through `shares`, evaluated at 0. With at least t
 * consistent shares this is the secret; with fewer it is an unrelated field element.
 */
export function interpolateAtZero(shares: readonly Share[]): bigint {
  checkX(shares.map((s) => s.x));
  const xs = shares.map((s) => BigInt(s.x));
  let acc = 0n;
  for (let j = 0; j < shares.length; j++) {
    const y = toBigInt(shares[j]!.y);
    if (shares[j]!.y.length !== SHARE_BYTES || y >= P) throw new RangeError('share is not a field element');
    let num = 1n;
    let den = 1n;
    for (let m = 0; m < shares.length; m++) {
      if (m === j) continue;
      num = mod(num * xs[m]!);
      den = mod(den * (xs[m]! - xs[j]!));
    }
    acc = mod(acc + y * num * inverse(den));
  }
  return acc;
}

/**
 * Reconstructs a `secretBytes`-long secret from the first `threshold` shares. Throws
 * `secagg_failed` when there are fewer than `threshold` shares or they are malformed or
 * inconsistent (the interpolated value does not fit in `secretBytes`, which a wrong share makes
 * overwhelmingly likely). A share that is wrong but still yields a small value is caught by the
 * caller's check against the secret's public commitment.
 */
export function combineShares(shares: readonly Share[], threshold: number, secretBytes = 32): Uint8Array {
  if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError(`bad threshold ${threshold}`);
  if (shares.length < threshold) {
    throw new FedlinkError('secagg_failed', `reconstruction needs ${threshold} shares, got ${shares.length}`);
  }
  let v: bigint;
  try {
    v = interpolateAtZero(shares.slice(0, threshold));
  } catch (err) {
    throw new FedlinkError('secagg_failed', `malformed shares: ${(err as Error).message}`);
  }
  if (v >> BigInt(8 * secretBytes) !== 0n) throw new FedlinkError('secagg_failed', 'shares are inconsistent');
  return toBytes(v, secretBytes);
}
