import nacl from 'tweetnacl';
import { importPrivate, importPublic, nativeCheck, subtleOrUndefined } from './native.js';

/**
 * The raw curve operations, from one of two implementations with the same results: WebCrypto's
 * native Ed25519 and X25519 where the platform has them (Node >= 20, current browsers), tweetnacl
 * otherwise. Raw means unchecked: both accept some keys libsodium refuses (small-order points),
 * so callers put the checks of key-checks.ts in front (signature.ts, envelope.ts, secagg).
 * Keys are tweetnacl's: a 64-byte Ed25519 secret key is seed || public key; an X25519 secret key
 * is any 32 bytes (both sides clamp, RFC 7748).
 */
export interface Curve {
  /** Which implementation does the work (`webcrypto-ed25519`: native signatures, tweetnacl X25519). */
  readonly name: 'webcrypto' | 'tweetnacl' | 'webcrypto-ed25519' | 'webcrypto-x25519';
  /** Ed25519 (RFC 8032, deterministic): the same signature from both implementations. */
  sign(message: Uint8Array, signSecretKey: Uint8Array): Promise<Uint8Array>;
  /** Cofactorless Ed25519 verification; false for a public key that is not a curve point. */
  verify(message: Uint8Array, signature: Uint8Array, signPublicKey: Uint8Array): Promise<boolean>;
  /** X25519; undefined when the result is all zeros (a low-order public key) or the key is refused. */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array | undefined>;
}

const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

export const TWEETNACL_CURVE: Curve = {
  name: 'tweetnacl',
  sign: async (message, signSecretKey) => nacl.sign.detached(message, signSecretKey),
  verify: async (message, signature, signPublicKey) => signature.length === 64 && signPublicKey.length === 32 && nacl.sign.detached.verify(message, signature, signPublicKey),
  x25519: async (secretKey, publicKey) => {
    const out = nacl.scalarMult(secretKey, publicKey);
    return allZero(out) ? undefined : out;
  },
};

export const WEBCRYPTO_CURVE: Curve = {
  name: 'webcrypto',
  sign: async (message, signSecretKey) => new Uint8Array(await subtleOrUndefined()!.sign({ name: 'Ed25519' }, await importPrivate('Ed25519', signSecretKey), message as BufferSource)),
  verify: async (message, signature, signPublicKey) => {
    if (signature.length !== 64 || signPublicKey.length !== 32) return false;
    try {
      const key = await importPublic('Ed25519', signPublicKey);
      return await subtleOrUndefined()!.verify({ name: 'Ed25519' }, key, signature as BufferSource, message as BufferSource);
    } catch {
      return false; // not a curve point
    }
  },
  x25519: async (secretKey, publicKey) => {
    try {
      const priv = await importPrivate('X25519', secretKey);
      const pub = await importPublic('X25519', publicKey);
      // TS's lib types EcdhKeyDeriveParams with `public: CryptoKey`, which X25519 uses as well.
      const bits = new Uint8Array(await subtleOrUndefined()!.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, priv, 256));
      return allZero(bits) ? undefined : bits;
    } catch {
      return undefined; // WebCrypto refuses all-zero results (and malformed points)
    }
  },
};

/**
 * Each native algorithm is trusted once it gives tweetnacl's results on fixed inputs (a browser
 * may have one and not the other): Ed25519 the same signature bytes, each verifying the other's
 * and a wrong message refused; X25519 the same secret.
 */
const nativeEd25519 = nativeCheck(async () => {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
  const msg = new Uint8Array([1, 2, 3]);
  const expected = nacl.sign.detached(msg, pair.secretKey);
  const sig = await WEBCRYPTO_CURVE.sign(msg, pair.secretKey);
  const good = await WEBCRYPTO_CURVE.verify(msg, expected, pair.publicKey);
  const bad = await WEBCRYPTO_CURVE.verify(new Uint8Array([1, 2, 4]), expected, pair.publicKey);
  return nacl.verify(sig, expected) && good && !bad;
});

const nativeX25519 = nativeCheck(async () => {
  const a = new Uint8Array(32).fill(3);
  const b = nacl.scalarMult.base(new Uint8Array(32).fill(5));
  const shared = await WEBCRYPTO_CURVE.x25519(a, b);
  return shared !== undefined && nacl.verify(shared, nacl.scalarMult(a, b));
});

let chosen: Promise<Curve> | undefined;

/** The implementation this platform uses: WebCrypto for each algorithm it has and that agrees, else tweetnacl. */
export function curve(): Promise<Curve> {
  return (chosen ??= (async () => {
    const [ed, x] = await Promise.all([nativeEd25519(), nativeX25519()]);
    if (ed === x) return ed ? WEBCRYPTO_CURVE : TWEETNACL_CURVE;
    const signing = ed ? WEBCRYPTO_CURVE : TWEETNACL_CURVE;
    return { name: ed ? 'webcrypto-ed25519' : 'webcrypto-x25519', sign: signing.sign, verify: signing.verify, x25519: (x ? WEBCRYPTO_CURVE : TWEETNACL_CURVE).x25519 };
  })());
}
