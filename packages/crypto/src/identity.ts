import nacl from 'tweetnacl';
import { fromBase64, toBase64, toHex, concatBytes, FedlinkError } from '@fedlink/protocol';

/**
 * A party's long-term identity: an Ed25519 signing pair (proves who speaks) and an X25519 box
 * pair (key agreement for sealing). Keys come from tweetnacl, whose randomness is the platform
 * CSPRNG (crypto.getRandomValues), never Math.random.
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
  const sign = nacl.sign.keyPair();
  const box = nacl.box.keyPair();
  return { signPublicKey: sign.publicKey, signSecretKey: sign.secretKey, boxPublicKey: box.publicKey, boxSecretKey: box.secretKey };
}

/**
 * A deterministic identity from a 32-byte seed: the same seed, the same keys. For simulations
 * and tests only (reproducible client ids, hence reproducible selection and batch order); a real
 * device uses generateIdentity(), whose keys come from the CSPRNG.
 */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (seed.length !== 32) throw new RangeError('identity seed must be 32 bytes');
  const sign = nacl.sign.keyPair.fromSeed(seed);
  // A separate, domain-separated secret for the box key, so the two keys are independent.
  const boxSecret = nacl.hash(concatBytes(new TextEncoder().encode('fedlink/box-key/v1\0'), seed)).slice(0, 32);
  const box = nacl.box.keyPair.fromSecretKey(boxSecret);
  return { signPublicKey: sign.publicKey, signSecretKey: sign.secretKey, boxPublicKey: box.publicKey, boxSecretKey: box.secretKey };
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
