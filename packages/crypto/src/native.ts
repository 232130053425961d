import type * as NodeCrypto from 'node:crypto';

/**
 * Access to WebCrypto's native Ed25519 and X25519 (Node >= 20, current browsers), which run
 * 10-100x faster than tweetnacl's pure JS. Raw 32-byte private keys (the form tweetnacl uses and
 * Shamir shares) are imported as PKCS#8: a fixed 16-byte DER prefix (RFC 8410) then the key.
 */
const PKCS8_PREFIX = {
  Ed25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
  X25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20],
} as const;

export type NativeCurve = 'Ed25519' | 'X25519';

/** Node's crypto module, or undefined in a browser (no import: bundlers never see it). */
export function nodeCrypto(): typeof NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined;
}

export function subtleOrUndefined(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/**
 * Imported private keys, by the array that holds the raw key. A PKCS#8 import derives the public
 * key (a scalar multiplication, ~0.3-1 ms), and a coordinator agrees with its one box key on every
 * hello: it pays that once. An entry keeps a copy of the raw bytes and is used only while the
 * array still holds them; it goes when the array does.
 */
class PrivateKeyCache<K> {
  private readonly byAlg: Record<NativeCurve, WeakMap<Uint8Array, { raw: Uint8Array; key: K }>> = { Ed25519: new WeakMap(), X25519: new WeakMap() };

  /** The cached import of `raw`'s first 32 bytes, or `make`'s of its PKCS#8 DER, which `make` zeroes when done (remembered unless it throws or rejects). */
  get(alg: NativeCurve, raw: Uint8Array, make: (der: Uint8Array) => K): K {
    const map = this.byAlg[alg];
    const cached = map.get(raw);
    if (cached && sameBytes(cached.raw, raw.subarray(0, 32))) return cached.key;
    const key = make(pkcs8(alg, raw));
    map.set(raw, { raw: raw.slice(0, 32), key });
    // A failed import is not remembered: the caller sees the error, the next call tries again.
    if (key instanceof Promise) key.catch(() => map.delete(raw));
    return key;
  }
}

function pkcs8(alg: NativeCurve, raw: Uint8Array): Uint8Array {
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX[alg]);
  der.set(raw.subarray(0, 32), 16);
  return der;
}

const imported = new PrivateKeyCache<Promise<CryptoKey>>();
const nodeImported = new PrivateKeyCache<NodeCrypto.KeyObject>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The first 32 bytes of `raw` (an X25519 secret key, or the seed of a tweetnacl Ed25519 secret key). */
export function importPrivate(alg: NativeCurve, raw: Uint8Array): Promise<CryptoKey> {
  return imported.get(alg, raw, async (der) => {
    try {
      return await subtleOrUndefined()!.importKey('pkcs8', der as BufferSource, { name: alg }, false, alg === 'Ed25519' ? ['sign'] : ['deriveBits']);
    } finally {
      der.fill(0);
    }
  });
}

/** The same key as a Node KeyObject, for Node's one-shot synchronous sign and diffieHellman. */
export function importPrivateNode(c: typeof NodeCrypto, alg: NativeCurve, raw: Uint8Array): NodeCrypto.KeyObject {
  return nodeImported.get(alg, raw, (der) => {
    try {
      return c.createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
  });
}

/**
 * A raw 32-byte public key as a Node KeyObject. As a JWK (`x`): 7.5 us here, against 73 us for
 * the same key as DER SPKI (OpenSSL's decoder); either checks only the length, not the point.
 */
export function importPublicNode(c: typeof NodeCrypto, alg: NativeCurve, raw: Uint8Array): NodeCrypto.KeyObject {
  return c.createPublicKey({ key: { kty: 'OKP', crv: alg, x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' });
}

export async function importPublic(alg: NativeCurve, raw: Uint8Array): Promise<CryptoKey> {
  return subtleOrUndefined()!.importKey('raw', raw as BufferSource, { name: alg }, false, alg === 'Ed25519' ? ['verify'] : []);
}

/**
 * Runs `test` once (it should compare the native result with tweetnacl's on fixed inputs) and
 * remembers whether native crypto can be trusted on this platform.
 */
export function nativeCheck(test: () => Promise<boolean>): () => Promise<boolean> {
  let result: Promise<boolean> | undefined;
  return () => {
    result ??= (async () => {
      try {
        return await test();
      } catch {
        return false; // algorithm not supported here: use tweetnacl
      }
    })();
    return result;
  };
}
