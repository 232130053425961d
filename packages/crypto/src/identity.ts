import nacl from 'tweetnacl';
import { fromBase64, toBase64, toHex, concatBytes, FedlinkError } from '@fedlink/protocol';
import { type NativeCurve, importPrivateNode, nodeCrypto } from './native.js';

/**
 * A party's long-term identity: an Ed25519 signing pair (proves who speaks) and an X25519 box
 * pair (key agreement for sealing), in tweetnacl's formats. Secrets come from the platform CSPRNG
 * (crypto.getRandomValues, through tweetnacl), never Math.random; public keys are derived by
 * Node's crypto in Node, by tweetnacl elsewhere (the same bytes).
 */
export interface Identity {
  signPublicKey: Uint8Array;
  signSecretKey: Uint8Array;
  boxPublicKey: Uint8Array;
  boxSecretKey: Uint8Array;
}

export interface PublicIdentity {
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

export function generateIdentity(): Identity {
  return identityFromSecrets(nacl.randomBytes(32), nacl.randomBytes(32));
}

/**
 * The public half of a raw private key, by Node's crypto: ~0.33 ms here for either curve (most of
 * it OpenSSL's PKCS#8 decoding), against tweetnacl's 2.8 ms for an Ed25519 seed and 0.47 ms for
 * an X25519 key (scratch probe, 2026-12-03). The KeyObject is the one `importPrivateNode` caches
 * for `secret`, so the identity's first signature or agreement imports nothing. Undefined where
 * this is not Node, or Node's result differed from tweetnacl's on a fixed key (checked once).
 */
function nativePublicKey(alg: NativeCurve, secret: Uint8Array): Uint8Array | undefined {
  const c = nativeDerivation();
  return c && publicKeyByNode(c, alg, secret);
}

function publicKeyByNode(c: NonNullable<ReturnType<typeof nodeCrypto>>, alg: NativeCurve, secret: Uint8Array): Uint8Array | undefined {
  const x = importPrivateNode(c, alg, secret).export({ format: 'jwk' }).x;
  return x === undefined ? undefined : new Uint8Array(Buffer.from(x, 'base64url'));
}

/** Node's crypto once it derived tweetnacl's public keys from a fixed secret (null: it didn't, or this is not Node; undefined: not checked yet). */
let derivation: ReturnType<typeof nodeCrypto> | null | undefined;

function nativeDerivation(): ReturnType<typeof nodeCrypto> {
  if (derivation === undefined) {
    const c = nodeCrypto();
    const seed = new Uint8Array(32).fill(7);
    const same = (got: Uint8Array | undefined, expected: Uint8Array) => got !== undefined && nacl.verify(got, expected);
    try {
      derivation = c && same(publicKeyByNode(c, 'Ed25519', seed.slice()), nacl.sign.keyPair.fromSeed(seed).publicKey) && same(publicKeyByNode(c, 'X25519', seed.slice()), nacl.scalarMult.base(seed)) ? c : null;
    } catch {
      derivation = null; // not supported here: tweetnacl derives the keys
    }
  }
  return derivation ?? undefined;
}

/** Which implementation derives identities' public keys here (bench lines, tests). */
export function identityKeysBy(): 'node' | 'tweetnacl' {
  return nativeDerivation() ? 'node' : 'tweetnacl';
}

/** The identity of an Ed25519 seed and an X25519 secret key (tweetnacl's formats: the 64-byte signing secret is seed || public key). */
function identityFromSecrets(seed: Uint8Array, boxSecretKey: Uint8Array): Identity {
  const signSecretKey = new Uint8Array(64);
  signSecretKey.set(seed);
  const signPublicKey = nativePublicKey('Ed25519', signSecretKey) ?? nacl.sign.keyPair.fromSeed(seed).publicKey;
  signSecretKey.set(signPublicKey, 32);
  const boxPublicKey = nativePublicKey('X25519', boxSecretKey) ?? nacl.scalarMult.base(boxSecretKey);
  return { signPublicKey, signSecretKey, boxPublicKey, boxSecretKey };
}

/**
 * A deterministic identity from a 32-byte seed: the same seed, the same keys. For simulations
 * and tests only (reproducible client ids, hence reproducible selection and batch order); a real
 * device uses generateIdentity(), whose keys come from the CSPRNG.
 */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (seed.length !== 32) throw new RangeError('identity seed must be 32 bytes');
  // A separate, domain-separated secret for the box key, so the two keys are independent.
  const boxSecret = nacl.hash(concatBytes(new TextEncoder().encode('fedlink/box-key/v1\0'), seed)).slice(0, 32);
  return identityFromSecrets(seed, boxSecret);
}

/**
 * Human-checkable fingerprint of both public keys: SHA-512 truncated to 128 bits, hex in groups
 * of four. Clients pin it with `--server-key`.
 */
export function fingerprint(id: PublicIdentity): string {
  const digest = nacl.hash(concatBytes(id.signPublicKey, id.boxPublicKey)).subarray(0, 16);
  return toHex(digest).match(/.{4}/g)!.join(':');
}

/** Stable client id derived from the signing key (what logs, metrics and storage use). */
export function clientIdOf(signPublicKey: Uint8Array): string {
  return toHex(nacl.hash(signPublicKey).subarray(0, 8));
}

/** Compares two fingerprints ignoring case and separators, so users can paste either form. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '');
  return norm(a).length === 32 && norm(a) === norm(b);
}

export interface IdentityFile {
  kind: 'fedlink-identity';
  version: 1;
  signPublicKey: string;
  signSecretKey: string;
  boxPublicKey: string;
  boxSecretKey: string;
}

export function identityToJson(id: Identity): IdentityFile {
  return {
    kind: 'fedlink-identity',
    version: 1,
    signPublicKey: toBase64(id.signPublicKey),
    signSecretKey: toBase64(id.signSecretKey),
    boxPublicKey: toBase64(id.boxPublicKey),
    boxSecretKey: toBase64(id.boxSecretKey),
  };
}

/** Parses and checks an identity file: the key pairs must belong together. */
export function identityFromJson(raw: unknown): Identity {
  const f = raw as Partial<IdentityFile>;
  if (!f || f.kind !== 'fedlink-identity' || f.version !== 1) {
    throw new FedlinkError('bad_request', 'not a fedlink identity file (kind/version)');
  }
  try {
    const id: Identity = {
      signPublicKey: fromBase64(f.signPublicKey!),
      signSecretKey: fromBase64(f.signSecretKey!),
      boxPublicKey: fromBase64(f.boxPublicKey!),
      boxSecretKey: fromBase64(f.boxSecretKey!),
    };
    const sign = nacl.sign.keyPair.fromSecretKey(id.signSecretKey);
    const box = nacl.box.keyPair.fromSecretKey(id.boxSecretKey);
    if (!nacl.verify(sign.publicKey, id.signPublicKey) || !nacl.verify(box.publicKey, id.boxPublicKey)) {
      throw new Error('mismatch');
    }
    return id;
  } catch {
    throw new FedlinkError('bad_request', 'identity file is corrupt: keys are malformed or do not match');
  }
}
