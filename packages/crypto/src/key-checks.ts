import { FedlinkError } from '@fedlink/protocol';

/**
 * Key and signature checks in front of every Ed25519 verify and X25519 agreement, with
 * libsodium's semantics (crypto_sign_verify_detached without ED25519_COMPAT, and the low-order
 * refusal of crypto_scalarmult). tweetnacl and OpenSSL skip them: with a small-order public key
 * and R = identity, S = 0 a "signature" verifies for every message, so a hello could claim a key
 * nobody holds.
 *
 * Refused:
 * - Ed25519 public keys that are not canonical (y >= p) or that encode one of the 8 points of
 *   small order (in any encoding, sign bit ignored): `weak_key`;
 * - signatures whose R is such a point or not canonical, or whose S is not reduced (S >= L):
 *   `bad_signature`;
 * - X25519 public keys of low order (u in {0, 1, p-1, the two order-8 u values} and the
 *   non-canonical u + p forms, bit 255 ignored as RFC 7748 says): every shared secret with them
 *   is all zeros, known to everyone: `weak_key`.
 * A key that is not a curve point at all fails the verify itself (`bad_signature`).
 *
 * Byte comparisons against fixed lists (the lists libsodium uses; tests recompute each entry),
 * so a check costs nanoseconds and runs alike in Node and browsers.
 */

const hex = (h: string): Uint8Array => {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
};

/** Ed25519 encodings (sign bit cleared) of the points of order 1, 2, 4 and 8, and y = p, p + 1. */
export const ED25519_SMALL_ORDER: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0: order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1: the neutral point
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p - 1: order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (non-canonical 0): order 4
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (non-canonical 1): order 1
].map(hex);

/** X25519 u-coordinates (bit 255 cleared) of low order, and u = p, p + 1. */
export const X25519_LOW_ORDER: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // u = 0: order 2
  '0100000000000000000000000000000000000000000000000000000000000000', // u = 1: order 4
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p - 1: order 4 (twist)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p (non-canonical 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p + 1 (non-canonical 1)
].map(hex);

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_BYTES = hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** Equal to one of `list` with bit 255 ignored. */
function onList(bytes: Uint8Array, list: readonly Uint8Array[]): boolean {
  return list.some((entry) => {
    for (let i = 0; i < 31; i++) if (bytes[i] !== entry[i]) return false;
    return (bytes[31]! & 0x7f) === entry[31];
  });
}

/** y < p for a point encoding (bit 255 is x's sign). */
function isCanonicalY(bytes: Uint8Array): boolean {
  if ((bytes[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (bytes[i] !== 0xff) return true;
  return bytes[0]! < 0xed;
}

/** Little-endian `a < b` for equal lengths. */
function lessThan(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = a.length - 1; i >= 0; i--) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!;
  }
  return false;
}

export type KeyProblem = 'length' | 'non_canonical' | 'small_order';

/** Why `bytes` is not an acceptable Ed25519 public key (or signature R), or undefined if it is. */
export function ed25519PointProblem(bytes: Uint8Array): KeyProblem | undefined {
  if (bytes.length !== 32) return 'length';
  if (onList(bytes, ED25519_SMALL_ORDER)) return 'small_order';
  if (!isCanonicalY(bytes)) return 'non_canonical';
  return undefined;
}

/** Why `bytes` is not an acceptable X25519 public key, or undefined if it is. */
export function x25519KeyProblem(bytes: Uint8Array): 'length' | 'small_order' | undefined {
  if (bytes.length !== 32) return 'length';
  return onList(bytes, X25519_LOW_ORDER) ? 'small_order' : undefined;
}

const PROBLEM_TEXT: Record<KeyProblem, string> = {
  length: 'is not 32 bytes',
  non_canonical: 'is a non-canonical point encoding',
  small_order: 'is a small-order point (usable without a secret key)',
};

/** Throws `weak_key` unless `key` is a canonical Ed25519 public key outside the small-order points. */
export function assertSigningKey(key: Uint8Array, what = 'signing key'): void {
  const problem = ed25519PointProblem(key);
  if (problem) throw new FedlinkError('weak_key', `${what} ${PROBLEM_TEXT[problem]}`);
}

/** Throws `weak_key` when `key` is an X25519 public key of low order (all-zero shared secret). */
export function assertBoxKey(key: Uint8Array, what = 'box key'): void {
  const problem = x25519KeyProblem(key);
  if (problem === 'length') throw new FedlinkError('weak_key', `${what} is not 32 bytes`);
  if (problem) throw new FedlinkError('weak_key', `${what} is a low-order X25519 point: every shared secret with it is all zeros`);
}

/**
 * Throws `bad_signature` unless `signature` is 64 bytes with an acceptable R and a reduced S
 * (S < L). It says nothing about whether the signature verifies: that is the verify call it
 * stands in front of.
 */
export function assertSignatureForm(signature: Uint8Array, what = 'signature'): void {
  if (signature.length !== 64) throw new FedlinkError('bad_signature', `${what} is not 64 bytes`);
  const r = ed25519PointProblem(signature.subarray(0, 32));
  if (r) throw new FedlinkError('bad_signature', `${what}: R ${PROBLEM_TEXT[r]}`);
  if (!lessThan(signature.subarray(32, 64), L_BYTES)) throw new FedlinkError('bad_signature', `${what}: S is not reduced (S >= L), a malleable signature`);
}

/** Boolean forms, for callers that turn a refusal into their own error. */
export function isAcceptableSigningKey(key: Uint8Array): boolean {
  return ed25519PointProblem(key) === undefined;
}

export function isAcceptableBoxKey(key: Uint8Array): boolean {
  return x25519KeyProblem(key) === undefined;
}

export function isAcceptableSignatureForm(signature: Uint8Array): boolean {
  return signature.length === 64 && ed25519PointProblem(signature.subarray(0, 32)) === undefined && lessThan(signature.subarray(32, 64), L_BYTES);
}
