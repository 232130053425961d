import nacl from 'tweetnacl';
import { curve } from '../curve.js';

/**
 * X25519 key agreement for the per-round keys, native where the platform has it (curve.ts): a
 * client does ~2k agreements per round, the coordinator one per dropped-client/survivor edge.
 * Private keys stay raw 32-byte strings because the mask key is Shamir-shared and reconstructed
 * by the coordinator. X25519 clamps the scalar itself (RFC 7748), so any 32 random bytes are a
 * valid private key on both paths.
 */
export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;

/** Fresh key pair: 32 bytes from the CSPRNG as the private key. */
export async function generateX25519(): Promise<X25519KeyPair> {
  const secretKey = nacl.randomBytes(32);
  return { secretKey, publicKey: await x25519Base(secretKey) };
}

/** The public key of `secretKey`. */
export async function x25519Base(secretKey: Uint8Array): Promise<Uint8Array> {
  return (await (await curve()).x25519(secretKey, BASE_POINT))!;
}

/**
 * The raw shared secret, or undefined when `publicKey` is a low-order point (the result would be
 * all zeros, i.e. known to everyone); callers refuse such keys.
 */
export async function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array | undefined> {
  return (await curve()).x25519(secretKey, publicKey);
}
