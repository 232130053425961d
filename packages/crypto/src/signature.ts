import { isAcceptableSignatureForm, isAcceptableSigningKey } from './key-checks.js';
import { curve } from './curve.js';

/**
 * Ed25519 signatures with the identity keys (tweetnacl format: the 64-byte secret key is
 * seed || public key), native where the platform has it (curve.ts): a hello's proof of
 * possession and every secagg transcript. Native verify is ~0.2 ms against ~10-30 ms in pure-JS
 * tweetnacl. Signatures are deterministic (RFC 8032): both implementations give the same bytes.
 */
export async function sign(message: Uint8Array, signSecretKey: Uint8Array): Promise<Uint8Array> {
  return (await curve()).sign(message, signSecretKey);
}

/**
 * Whether `signature` verifies, with libsodium's strictness in front of the verify: a
 * small-order or non-canonical key or R, or an unreduced S, is refused here (tweetnacl and
 * OpenSSL accept small-order keys and R values; tweetnacl also S >= L).
 */
export async function verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (!isAcceptableSigningKey(publicKey) || !isAcceptableSignatureForm(signature)) return false;
  return (await curve()).verify(message, signature, publicKey);
}
