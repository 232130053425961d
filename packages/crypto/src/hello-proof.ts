import nacl from 'tweetnacl';
import { concatBytes, utf8 } from '@fedlink/protocol';
import { assertBoxKey, assertSignatureForm, assertSigningKey } from './key-checks.js';
import { curve } from './curve.js';

/**
 * Proof of key possession in `hello`: the client signs the coordinator's fresh challenge, the
 * socket's connection id and its box key. Someone who only saw a client's public keys (or an
 * old hello) can't produce it for a new connection.
 */
export function helloTranscript(challenge: Uint8Array, connectionId: string, boxPublicKey: Uint8Array): Uint8Array {
  return concatBytes(utf8('fedlink/hello/v1\0'), challenge, utf8(`\0${connectionId}\0`), boxPublicKey);
}

export async function signHello(
  signSecretKey: Uint8Array,
  challenge: Uint8Array,
  connectionId: string,
  boxPublicKey: Uint8Array,
): Promise<Uint8Array> {
  return (await curve()).sign(helloTranscript(challenge, connectionId, boxPublicKey), signSecretKey);
}

/**
 * Checks a hello's proof of possession. Keys and signature are checked first, as libsodium does
 * (tweetnacl and OpenSSL alone accept a small-order key with R = identity, S = 0 for any
 * message): a weak key rejects with `weak_key`, a malformed signature `bad_signature`. Resolves
 * to whether the signature verifies (natively where the platform can: curve.ts; in Node the
 * verify runs on libuv's thread pool, off the event loop).
 */
export async function verifyHello(
  signPublicKey: Uint8Array,
  signature: Uint8Array,
  challenge: Uint8Array,
  connectionId: string,
  boxPublicKey: Uint8Array,
): Promise<boolean> {
  assertSigningKey(signPublicKey, 'hello signing key');
  assertBoxKey(boxPublicKey, 'hello box key');
  assertSignatureForm(signature, 'hello signature');
  return (await curve()).verify(helloTranscript(challenge, connectionId, boxPublicKey), signature, signPublicKey);
}

/** 32 bytes from the platform CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  return nacl.randomBytes(n);
}
