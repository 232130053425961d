import nacl from 'tweetnacl';
import {
  ED25519_SMALL_ORDER,
  SecAggServerRound,
  NODE_CURVE,
  TWEETNACL_CURVE,
  WEBCRYPTO_CURVE,
  X25519_LOW_ORDER,
  assertBoxKey,
  assertSignatureForm,
  assertSigningKey,
  clientIdOf,
  generateIdentity,
  helloTranscript,
  isAcceptableSignatureForm,
  isAcceptableSigningKey,
  signHello,
  verifyHello,
} from '@fedlink/crypto';
import { FedlinkError } from '@fedlink/protocol';
// A malicious client signs content of its choosing: it needs the transcript encoding (internal).
import { bind, resolveParams } from '../src/secagg/params.js';
import { sign, verify } from '../src/signature.js';
import { makeSim } from './secagg-sim.js';

// ---- An independent reference: Ed25519 point arithmetic in BigInt (RFC 8032 5.1) ----
const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const mod = (a: bigint) => ((a % P) + P) % P;
const pow = (b: bigint, e: bigint): bigint => {
  let r = 1n;
  b = mod(b);
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
};
const D = mod(-121665n * pow(121666n, P - 2n));
const I = pow(2n, (P - 1n) / 4n);
const le = (b: Uint8Array) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
const bytesOf = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
type Pt = [bigint, bigint];
const add = ([x1, y1]: Pt, [x2, y2]: Pt): Pt => {
  const t = mod(D * x1 * x2 * y1 * y2);
  return [mod((x1 * y2 + x2 * y1) * pow(1n + t, P - 2n)), mod((y1 * y2 + x1 * x2) * pow(1n - t, P - 2n))];
};
/** x from y and the sign bit, or undefined when y is not on the curve (y taken mod p, as lax decoders do). */
function decodeLax(bytes: Uint8Array): Pt | undefined {
  const n = le(bytes);
  const y = mod(n & ((1n << 255n) - 1n));
  const x2 = mod((y * y - 1n) * pow(D * y * y + 1n, P - 2n));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * I);
  if (mod(x * x - x2) !== 0n) return undefined;
  if ((x & 1n) !== n >> 255n) x = mod(-x);
  return [x, y];
}
const isSmallOrder = (p: Pt) => {
  const q = add(add(add(p, p), add(p, p)), add(add(p, p), add(p, p)));
  return q[0] === 0n && q[1] === 1n;
};

const withTopBit = (b: Uint8Array) => {
  const c = b.slice();
  c[31]! |= 0x80;
  return c;
};
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    return e instanceof FedlinkError ? e.code : `untyped: ${String(e)}`;
  }
};

const codeOfAsync = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f();
    return 'accepted';
  } catch (e) {
    return e instanceof FedlinkError ? e.code : `untyped: ${String(e)}`;
  }
};

/** The 8 points of the torsion subgroup in both sign encodings (x = 0 has only "-0" as the second). */
const SMALL_ORDER_ENCODINGS = ED25519_SMALL_ORDER.flatMap((b) => [b, withTopBit(b)]);
/** The forged signature: R = neutral point, S = 0. */
const FORGED = (() => {
  const s = new Uint8Array(64);
  s[0] = 1;
  return s;
})();

describe('Ed25519 weak keys (libsodium semantics)', () => {
  test('the list is exactly the small-order points: each recomputed here as [8]P = O, the 8 distinct points all present', () => {
    const points = new Set<string>();
    for (const enc of SMALL_ORDER_ENCODINGS) {
      const pt = decodeLax(enc);
      expect(pt).toBeDefined();
      expect(isSmallOrder(pt!)).toBe(true);
      points.add(`${pt![0]},${pt![1]}`);
    }
    expect(points.size).toBe(8);
    // And no other y of the form 0..20 or p-20..p+18 (non-canonical range included) is small order.
    for (let k = 0n; k < 20n; k++) {
      for (const y of [k, P - k, P + k]) {
        if (y >= 1n << 255n) continue;
        const pt = decodeLax(bytesOf(y));
        const listed = ED25519_SMALL_ORDER.some((b) => le(b) === y);
        if (pt && isSmallOrder(pt)) expect(listed).toBe(true);
      }
    }
  });

  test('tweetnacl alone accepts the forgery for small-order keys; every such key is refused as weak_key', () => {
    const msg = new TextEncoder().encode('any message at all');
    // The neutral point verifies the (R = O, S = 0) signature for every message.
    expect(nacl.sign.detached.verify(msg, FORGED, ED25519_SMALL_ORDER[1]!)).toBe(true);
    for (const key of SMALL_ORDER_ENCODINGS) {
      expect(codeOf(() => assertSigningKey(key))).toBe('weak_key');
      expect(isAcceptableSigningKey(key)).toBe(false);
    }
  });

  test('non-canonical encodings (y >= p) are refused, small order or not', () => {
    for (let k = 0n; k < 19n; k++) {
      const enc = bytesOf(P + k);
      expect(codeOf(() => assertSigningKey(enc))).toBe('weak_key');
      expect(codeOf(() => assertSigningKey(withTopBit(enc)))).toBe('weak_key');
    }
    expect(codeOf(() => assertSigningKey(new Uint8Array(31)))).toBe('weak_key');
  });

  test('50 honest keys and their signatures pass', () => {
    for (let i = 0; i < 50; i++) {
      const pair = nacl.sign.keyPair();
      expect(codeOf(() => assertSigningKey(pair.publicKey))).toBe('accepted');
      if (i % 5 === 0) expect(isAcceptableSignatureForm(nacl.sign.detached(new Uint8Array([i]), pair.secretKey))).toBe(true);
    }
  });

  test('signatures: small-order or non-canonical R and S >= L are bad_signature (tweetnacl accepts S + L)', async () => {
    const pair = nacl.sign.keyPair();
    const msg = new Uint8Array([1, 2, 3]);
    const sig = nacl.sign.detached(msg, pair.secretKey);
    // S + L: the same point [S]B, so a lax verifier accepts a second signature (malleability).
    const malleated = sig.slice();
    malleated.set(bytesOf(le(sig.subarray(32)) + L), 32);
    expect(le(sig.subarray(32)) + L < 1n << 256n).toBe(true);
    expect(nacl.sign.detached.verify(msg, malleated, pair.publicKey)).toBe(true);
    expect(codeOf(() => assertSignatureForm(malleated))).toBe('bad_signature');
    expect(await verify(msg, malleated, pair.publicKey)).toBe(false);
    const sEqualsL = sig.slice();
    sEqualsL.set(bytesOf(L), 32);
    expect(codeOf(() => assertSignatureForm(sEqualsL))).toBe('bad_signature');
    for (const r of SMALL_ORDER_ENCODINGS) {
      const s = sig.slice();
      s.set(r, 0);
      expect(codeOf(() => assertSignatureForm(s))).toBe('bad_signature');
    }
    const nonCanonicalR = sig.slice();
    nonCanonicalR.set(bytesOf(P + 3n), 0);
    expect(codeOf(() => assertSignatureForm(nonCanonicalR))).toBe('bad_signature');
    expect(await verify(msg, sig, pair.publicKey)).toBe(true);
    // The forged signature under a small-order key: refused before any verifier runs.
    expect(await verify(msg, FORGED, ED25519_SMALL_ORDER[1]!)).toBe(false);
  });

  test('verifyHello: a forged hello under the neutral point is weak_key; an honest one verifies', async () => {
    const challenge = nacl.randomBytes(32);
    const box = nacl.box.keyPair().publicKey;
    expect(nacl.sign.detached.verify(helloTranscript(challenge, 'conn-1', box), FORGED, ED25519_SMALL_ORDER[1]!)).toBe(true);
    for (const key of SMALL_ORDER_ENCODINGS) expect(await codeOfAsync(() => verifyHello(key, FORGED, challenge, 'conn-1', box))).toBe('weak_key');
    const id = generateIdentity();
    const sig = await signHello(id.signSecretKey, challenge, 'conn-1', id.boxPublicKey);
    expect(await verifyHello(id.signPublicKey, sig, challenge, 'conn-1', id.boxPublicKey)).toBe(true);
    expect(await verifyHello(id.signPublicKey, sig, challenge, 'conn-2', id.boxPublicKey)).toBe(false);
    for (const low of X25519_LOW_ORDER) expect(await codeOfAsync(() => verifyHello(id.signPublicKey, sig, challenge, 'conn-1', low))).toBe('weak_key');
  });
});

const encode = ([x, y]: Pt): Uint8Array => bytesOf(y | ((x & 1n) << 255n));
/** An Ed25519 secret scalar: the clamped first half of SHA-512(seed) (RFC 8032 5.1.5). */
const scalarOf = (seed: Uint8Array): bigint => {
  const h = nacl.hash(seed).slice(0, 32);
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  return le(h);
};
const seedOf = (n: number) => new Uint8Array(32).fill(n);

describe('native (WebCrypto, Node crypto) and tweetnacl Ed25519 verify alike, behind the checks', () => {
  const impls = [WEBCRYPTO_CURVE, NODE_CURVE!, TWEETNACL_CURVE];
  const rawResults = (msg: Uint8Array, sig: Uint8Array, key: Uint8Array) => Promise.all(impls.map((c) => c.verify(msg, sig, key)));

  test('a mixed-order key (honest key + an order-8 point): both accept exactly when 8 divides the challenge hash (cofactorless), the checks let it through', async () => {
    const a = nacl.sign.keyPair.fromSeed(seedOf(11));
    const torsion = decodeLax(ED25519_SMALL_ORDER[2]!)!;
    const mixed = encode(add(decodeLax(a.publicKey)!, torsion));
    expect(isAcceptableSigningKey(mixed)).toBe(true);
    const R = nacl.sign.keyPair.fromSeed(seedOf(12)).publicKey;
    const accepted: boolean[] = [];
    for (let i = 0; i < 48; i++) {
      const msg = new Uint8Array([i, 1, 2]);
      const k = le(nacl.hash(new Uint8Array([...R, ...mixed, ...msg]))) % L;
      const S = (scalarOf(seedOf(12)) + k * scalarOf(seedOf(11))) % L;
      const sig = new Uint8Array([...R, ...bytesOf(S)]);
      const expected = k % 8n === 0n;
      expect(await rawResults(msg, sig, mixed)).toEqual([expected, expected, expected]);
      expect(await verify(msg, sig, mixed)).toBe(expected);
      accepted.push(expected);
    }
    expect(accepted).toContain(true);
    expect(accepted).toContain(false);
  });

  test('inputs the checks pass: honest, wrong message, S changed below L, a key that is no curve point', async () => {
    const pair = nacl.sign.keyPair.fromSeed(seedOf(21));
    const msg = new Uint8Array([9, 9]);
    const sig = nacl.sign.detached(msg, pair.secretKey);
    expect(await rawResults(msg, sig, pair.publicKey)).toEqual([true, true, true]);
    expect(await rawResults(new Uint8Array([9, 8]), sig, pair.publicKey)).toEqual([false, false, false]);
    const s2 = sig.slice();
    s2[32]! ^= 1;
    expect(isAcceptableSignatureForm(s2)).toBe(true);
    expect(await rawResults(msg, s2, pair.publicKey)).toEqual([false, false, false]);
    // y = 2 has no x on the curve: not a point, refused by both verifiers (the checks don't decode).
    expect(decodeLax(bytesOf(2n))).toBeUndefined();
    expect(isAcceptableSigningKey(bytesOf(2n))).toBe(true);
    expect(await rawResults(msg, sig, bytesOf(2n))).toEqual([false, false, false]);
    expect(await verify(msg, sig, bytesOf(2n))).toBe(false);
  });

  test('inputs the checks refuse: raw verifiers differ (tweetnacl takes S + L, both take the neutral-key forgery); checked, both refuse', async () => {
    const pair = nacl.sign.keyPair.fromSeed(seedOf(31));
    const msg = new Uint8Array([4]);
    const sig = nacl.sign.detached(msg, pair.secretKey);
    const malleated = sig.slice();
    malleated.set(bytesOf(le(sig.subarray(32)) + L), 32);
    expect(await rawResults(msg, malleated, pair.publicKey)).toEqual([false, false, true]);
    expect(await rawResults(msg, FORGED, ED25519_SMALL_ORDER[1]!)).toEqual([true, true, true]);
    const smallR = sig.slice();
    smallR.set(ED25519_SMALL_ORDER[1]!, 0);
    for (const [m, s, k] of [
      [msg, malleated, pair.publicKey],
      [msg, FORGED, ED25519_SMALL_ORDER[1]!],
      [msg, smallR, pair.publicKey],
    ] as const) {
      expect(await verify(m, s, k)).toBe(false);
    }
  });

  test('low-order X25519 keys: both implementations give no secret (tweetnacl all zeros, WebCrypto refuses)', async () => {
    const sk = nacl.randomBytes(32);
    for (const u of X25519_LOW_ORDER.flatMap((b) => [b, withTopBit(b)])) {
      expect(await Promise.all(impls.map((c) => c.x25519(sk, u)))).toEqual([undefined, undefined, undefined]);
    }
  });
});

describe('X25519 low-order keys', () => {
  test('each listed key (and its bit-255 twin) gives an all-zero secret under tweetnacl, and is refused as weak_key', () => {
    for (const u of X25519_LOW_ORDER.flatMap((b) => [b, withTopBit(b)])) {
      expect(nacl.scalarMult(nacl.randomBytes(32), u).every((b) => b === 0)).toBe(true);
      expect(codeOf(() => assertBoxKey(u))).toBe('weak_key');
    }
  });

  test('no other u below 24 (or p - 24 .. p + 18) gives an all-zero secret; 50 honest keys pass', () => {
    const sk = nacl.randomBytes(32);
    for (let k = 0n; k < 24n; k++) {
      for (const u of [k, P - k, P + k]) {
        if (u < 0n || u >= 1n << 255n) continue;
        const zero = nacl.scalarMult(sk, bytesOf(u)).every((b) => b === 0);
        expect(codeOf(() => assertBoxKey(bytesOf(u)))).toBe(zero ? 'weak_key' : 'accepted');
      }
    }
    for (let i = 0; i < 50; i++) expect(codeOf(() => assertBoxKey(nacl.box.keyPair().publicKey))).toBe('accepted');
  });
});

describe('secure aggregation refuses weak keys', () => {
  test('an advertise with a low-order mask or share key, signed by its sender, is weak_key; honest clients complete', async () => {
    const sim = makeSim({ n: 4, vectorLength: 16 });
    const p = resolveParams(sim.server.setup);
    const [bad, ...honest] = sim.clients;
    const good = await bad!.advertise();
    for (const low of X25519_LOW_ORDER) {
      for (const field of ['maskPublicKey', 'sharePublicKey'] as const) {
        const keys = { mask: good.maskPublicKey, share: good.sharePublicKey, [field === 'maskPublicKey' ? 'mask' : 'share']: low };
        const signature = await sign(bind.advertise(p, good.sender, keys.mask, keys.share, good.selfMaskCommitment), sim.identities[0]!.signSecretKey);
        const forged = { ...good, maskPublicKey: keys.mask, sharePublicKey: keys.share, signature };
        await expect(sim.server.receiveAdvertise(forged)).rejects.toMatchObject({ code: 'weak_key' });
      }
    }
    // A small-order R in the advertise signature: bad_signature.
    const r = good.signature.slice();
    r.set(ED25519_SMALL_ORDER[2]!, 0);
    await expect(sim.server.receiveAdvertise({ ...good, signature: r })).rejects.toMatchObject({ code: 'bad_signature' });
    // The sender's genuine advertise still counts, and the honest clients go on.
    await sim.server.receiveAdvertise(good);
    for (const c of honest) await sim.server.receiveAdvertise(await c.advertise());
    expect(sim.server.closeAdvertise().size).toBe(4);
  });

  test('a roster (setup) that lists a small-order signing key is refused', () => {
    for (const key of SMALL_ORDER_ENCODINGS) {
      expect(
        codeOf(
          () =>
            new SecAggServerRound({
              runId: 'run-1',
              round: 1,
              vectorLength: 16,
              participants: [
                { clientId: clientIdOf(key), signPublicKey: key, maxExamples: 10 },
                ...[1, 2].map(() => {
                  const id = generateIdentity();
                  return { clientId: clientIdOf(id.signPublicKey), signPublicKey: id.signPublicKey, maxExamples: 10 };
                }),
              ],
            }),
        ),
      ).toBe('weak_key');
    }
  });

  test("a client refuses a neighbour's low-order key in the keys message", async () => {
    const sim = makeSim({ n: 4, vectorLength: 16 });
    const p = resolveParams(sim.server.setup);
    const ads = [];
    for (const c of sim.clients) ads.push(await c.advertise());
    // The coordinator (malicious here) hands client 1 a low-order mask key for client 0, signed by client 0's key.
    const low = X25519_LOW_ORDER[2]!;
    const a0 = ads[0]!;
    const signature = await sign(bind.advertise(p, a0.sender, low, a0.sharePublicKey, a0.selfMaskCommitment), sim.identities[0]!.signSecretKey);
    const keys = ads
      .filter((a) => a.sender !== sim.ids[1])
      .map((a) => (a.sender === a0.sender ? { clientId: a.sender, maskPublicKey: low, sharePublicKey: a.sharePublicKey, selfMaskCommitment: a.selfMaskCommitment, signature } : { clientId: a.sender, maskPublicKey: a.maskPublicKey, sharePublicKey: a.sharePublicKey, selfMaskCommitment: a.selfMaskCommitment, signature: a.signature }));
    await expect(sim.clients[1]!.shareKeys({ stage: 'keys', runId: p.runId, round: p.round, recipient: sim.ids[1]!, keys })).rejects.toMatchObject({ code: 'weak_key' });
  });
});
