import { FedlinkError } from '@fedlink/protocol';
import { combineShares, interpolateAtZero, randomBytes, SHAMIR_PRIME, SHARE_BYTES, splitSecret, type ShamirShare as Share } from '@fedlink/crypto';

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

const toBig = (b: Uint8Array) => b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);

describe('Shamir secret sharing over GF(2^521 - 1)', () => {
  it('reconstructs a 32-byte secret from every subset of t shares, in any order', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, [1, 2, 3, 4, 5, 6, 7], 4);
    const all = subsets(shares, 4);
    expect(all).toHaveLength(35);
    for (const s of all) expect(combineShares([...s].reverse(), 4)).toEqual(secret);
    // More than t shares: the first t are used, still the secret.
    expect(combineShares(shares, 4)).toEqual(secret);
  });

  it('uses sparse, non-consecutive x-coordinates (roster indices)', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, [3, 17, 42, 99, 250], 3);
    expect(combineShares([shares[4]!, shares[0]!, shares[2]!], 3)).toEqual(secret);
  });

  it('refuses to reconstruct from t - 1 shares, and interpolating them gives an unrelated value', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, [1, 2, 3, 4, 5], 3);
    expect(() => combineShares(shares.slice(0, 2), 3)).toThrow(FedlinkError);
    for (const s of subsets(shares, 2)) {
      const v = interpolateAtZero(s);
      expect(v).not.toBe(toBig(secret));
      // A uniform field element: with overwhelming probability not even 256 bits long.
      expect(v >> 256n).not.toBe(0n);
    }
  });

  it('each share alone is a uniform-looking field element, different in every split', () => {
    const secret = new Uint8Array(32); // all zeros: shares must still look random
    const a = splitSecret(secret, [1, 2, 3], 2);
    const b = splitSecret(secret, [1, 2, 3], 2);
    for (const s of [...a, ...b]) {
      expect(s.y).toHaveLength(SHARE_BYTES);
      expect(toBig(s.y) < SHAMIR_PRIME).toBe(true);
    }
    expect(a[0]!.y).not.toEqual(b[0]!.y);
  });

  it('a single wrong share makes reconstruction fail or give a different secret', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, [1, 2, 3, 4], 3);
    const bad: Share = { x: shares[1]!.x, y: shares[1]!.y.slice() };
    bad.y[SHARE_BYTES - 1]! ^= 1;
    let out: Uint8Array | undefined;
    try {
      out = combineShares([shares[0]!, bad, shares[2]!], 3);
    } catch (err) {
      expect((err as FedlinkError).code).toBe('secagg_failed');
    }
    if (out) expect(out).not.toEqual(secret);
  });

  it('rejects bad parameters: x = 0, duplicate x, t out of range, oversized secret', () => {
    const s = randomBytes(32);
    expect(() => splitSecret(s, [0, 1, 2], 2)).toThrow(RangeError);
    expect(() => splitSecret(s, [1, 1, 2], 2)).toThrow(RangeError);
    expect(() => splitSecret(s, [1, 2], 3)).toThrow(RangeError);
    expect(() => splitSecret(randomBytes(66), [1, 2], 2)).toThrow(RangeError);
    const shares = splitSecret(s, [1, 2, 3], 2);
    expect(() => combineShares([shares[0]!, { ...shares[1]!, x: 1 }], 2)).toThrow(FedlinkError);
  });
});
