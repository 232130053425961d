import nacl from 'tweetnacl';
import type * as NodeCrypto from 'node:crypto';
import { importPrivate, importPrivateNode, importPublic, importPublicNode, nativeCheck, nodeCrypto, subtleOrUndefined } from './native.js';

/**
 * The raw curve operations, from one of three implementations with the same results: Node's
 * crypto module (OpenSSL, one-shot and synchronous) in Node, WebCrypto's native Ed25519 and
 * X25519 where the platform has them (current browsers), tweetnacl otherwise. Raw means
 * unchecked: all three accept some keys libsodium refuses (small-order points), so callers put
 * the checks of key-checks.ts in front (signature.ts, envelope.ts, secagg).
 * Keys are tweetnacl's: a 64-byte Ed25519 secret key is seed || public key; an X25519 secret key
 * is any 32 bytes (both sides clamp, RFC 7748).
 */
export interface Curve {
  /** Which implementation does the work (`webcrypto-ed25519`: native signatures, tweetnacl X25519). */
  readonly name: 'node' | 'webcrypto' | 'tweetnacl' | 'webcrypto-ed25519' | 'webcrypto-x25519';
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
 * Node's crypto, called directly: the same OpenSSL code WebCrypto runs in Node, without its
 * promise job on the thread pool per call. Measured here (scratch probe, 2026-12-02): a verify
 * with its public-key import 84 us of CPU on the calling thread, against about 120 us for
 * WebCrypto's (on the pool, plus 0.1-0.2 ms on the event loop to dispatch it and import the key
 * in a coordinator's profile); X25519 with the import 37 us. A coordinator verifies and agrees
 * once per hello, so this is per join.
 */
function nodeCurve(c: typeof NodeCrypto): Curve {
  const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return {
    name: 'node',
    sign: async (message, signSecretKey) => bytes(c.sign(null, message, importPrivateNode(c, 'Ed25519', signSecretKey))),
    verify: async (message, signature, signPublicKey) => {
      if (signature.length !== 64 || signPublicKey.length !== 32) return false;
      try {
        return c.verify(null, message, importPublicNode(c, 'Ed25519', signPublicKey), signature);
      } catch {
        return false; // not a curve point
      }
    },
    x25519: async (secretKey, publicKey) => {
      if (publicKey.length !== 32) return undefined;
      try {
        const out = bytes(c.diffieHellman({ privateKey: importPrivateNode(c, 'X25519', secretKey), publicKey: importPublicNode(c, 'X25519', publicKey) }));
        return allZero(out) ? undefined : out;
      } catch {
        return undefined; // OpenSSL refuses an all-zero result
      }
    },
  };
}

const node = nodeCrypto();

/** Node's curve where this is Node (undefined elsewhere), for tests that compare the three. */
export const NODE_CURVE: Curve | undefined = node && typeof node.diffieHellman === 'function' ? nodeCurve(node) : undefined;

/** Node's curve is trusted once it gives tweetnacl's results on the fixed inputs the WebCrypto checks use. */
const nodeAgrees = nativeCheck(async () => NODE_CURVE !== undefined && (await agreesWithTweetnacl(NODE_CURVE)));

/**
 * Each native algorithm is trusted once it gives tweetnacl's results on fixed inputs (a browser
 * may have one and not the other): Ed25519 the same signature bytes, each verifying the other's
 * and a wrong message refused; X25519 the same secret.
 */
async function ed25519Agrees(impl: Curve): Promise<boolean> {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
  const msg = new Uint8Array([1, 2, 3]);
  const expected = nacl.sign.detached(msg, pair.secretKey);
  const sig = await impl.sign(msg, pair.secretKey);
  const good = await impl.verify(msg, expected, pair.publicKey);
  const bad = await impl.verify(new Uint8Array([1, 2, 4]), expected, pair.publicKey);
  return nacl.verify(sig, expected) && good && !bad;
}

async function x25519Agrees(impl: Curve): Promise<boolean> {
  const a = new Uint8Array(32).fill(3);
  const b = nacl.scalarMult.base(new Uint8Array(32).fill(5));
  const shared = await impl.x25519(a, b);
  return shared !== undefined && nacl.verify(shared, nacl.scalarMult(a, b));
}

async function agreesWithTweetnacl(impl: Curve): Promise<boolean> {
  return (await ed25519Agrees(impl)) && (await x25519Agrees(impl));
}

const nativeEd25519 = nativeCheck(async () => subtleOrUndefined() !== undefined && (await ed25519Agrees(WEBCRYPTO_CURVE)));
const nativeX25519 = nativeCheck(async () => subtleOrUndefined() !== undefined && (await x25519Agrees(WEBCRYPTO_CURVE)));

let chosen: Promise<Curve> | undefined;

/** The implementation this platform uses: Node's where it agrees; else WebCrypto for each algorithm it has and that agrees, else tweetnacl. */
export function curve(): Promise<Curve> {
  return (chosen ??= (async () => {
    if (await nodeAgrees()) return NODE_CURVE!;
    const [ed, x] = await Promise.all([nativeEd25519(), nativeX25519()]);
    if (ed === x) return ed ? WEBCRYPTO_CURVE : TWEETNACL_CURVE;
    const signing = ed ? WEBCRYPTO_CURVE : TWEETNACL_CURVE;
    return { name: ed ? 'webcrypto-ed25519' : 'webcrypto-x25519', sign: signing.sign, verify: signing.verify, x25519: (x ? WEBCRYPTO_CURVE : TWEETNACL_CURVE).x25519 };
  })());
}
