import nacl from 'tweetnacl';
import { importPrivate, importPublic, nativeCheck, subtleOrUndefined } from './native.js';

/**
 * X25519 key agreement for the per-round keys: native WebCrypto where present (a client does ~2k
 * agreements per round, the coordinator one per dropped-client/survivor edge), tweetnacl
 * otherwise; a self-test checks both agree first. Private keys stay raw 32-byte strings because
 * the mask key is Shamir-shared and reconstructed by the coordinator. X25519 clamps the scalar
 * itself (RFC 7748), so any 32 random bytes are a valid private key on both paths.
 */
export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;

const native = nativeCheck(async () => {
  const a = new Uint8Array(32).fill(3);
  const b = new Uint8Array(32).fill(5);
  const got = await nativeAgree(a, nacl.scalarMult.base(b));
  return nacl.verify(got, nacl.scalarMult(a, nacl.scalarMult.base(b)));
});

async function nativeAgree(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  const priv = await importPrivate('X25519', secretKey);
  const pub = await importPublic('X25519', publicKey);
  // TS's lib types EcdhKeyDeriveParams with `public: CryptoKey`, which X25519 uses as well.
  const bits = await subtleOrUndefined()!.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, priv, 256);
  return new Uint8Array(bits);
}

/** Fresh key pair: 32 bytes from the CSPRNG as the private key. */
export async function generateX25519(): Promise<X25519KeyPair> {
  const secretKey = nacl.randomBytes(32);
  return { secretKey, publicKey: await x25519Base(secretKey) };
}

/** The public key of `secretKey`. */
export async function x25519Base(secretKey: Uint8Array): Promise<Uint8Array> {
  return (await native()) ? nativeAgree(secretKey, BASE_POINT) : nacl.scalarMult.base(secretKey);
}

/**
 * The raw shared secret, or undefined when `publicKey` is a low-order point (the result would be
 * all zeros, i.e. known to everyone); callers refuse such keys.
 */
export async function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array | undefined> {
  let out: Uint8Array;
  if (await native()) {
    try {
      out = await nativeAgree(secretKey, publicKey);
    } catch {
      return undefined; // WebCrypto refuses all-zero results (and malformed points)
    }
  } else out = nacl.scalarMult(secretKey, publicKey);
  return out.every((b) => b === 0) ? undefined : out;
}
