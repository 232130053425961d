import nacl from 'tweetnacl';
import { FedlinkError, utf8 } from '@fedlink/protocol';
import { ENVELOPE_CIPHER } from './aead.js';
import { curve } from './curve.js';
import { assertBoxKey } from './key-checks.js';

/**
 * Sealed envelopes for bulk payloads (weight deltas), to one recipient.
 *
 * Key agreement is nacl.box's: X25519 between the sender's and the recipient's box keys, hashed
 * with HSalsa20 (the value of `nacl.box.before`), with the X25519 natively where the platform
 * has it (curve.ts). The bulk cipher is AES-256-GCM (Node's crypto or WebCrypto: aead.ts),
 * because tweetnacl's XSalsa20-Poly1305 in pure JS runs at ~36 MB/s here against ~680 MB/s for
 * WebCrypto's AES-GCM (a 6.65 MB CNN delta: ~180 ms vs ~10 ms). Each envelope has a fresh random 24-byte
 * nonce that salts HKDF-SHA256, which derives a one-time key and IV, so no (key, IV) pair ever
 * repeats. The associated data binds the envelope to its context (run, round, sender): moved to
 * another round or client, it fails authentication.
 */
export interface SealedEnvelope {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** tweetnacl's HSalsa20 core, which its typings leave out (`nacl.lowlevel`, present in every build). */
interface NaclLowLevel {
  crypto_core_hsalsa20(out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array): number;
}
const lowlevel = (nacl as unknown as { lowlevel: NaclLowLevel }).lowlevel;
const SIGMA = utf8('expand 32-byte k');

/**
 * Sender and recipient derive the same value (byte for byte `nacl.box.before`); precompute it
 * once per peer. A low-order `theirBoxPublicKey` rejects with `weak_key` (the X25519 result
 * would be all zeros, known to everyone).
 */
export async function sharedKey(theirBoxPublicKey: Uint8Array, myBoxSecretKey: Uint8Array): Promise<Uint8Array> {
  assertBoxKey(theirBoxPublicKey, 'peer box key');
  const secret = await (await curve()).x25519(myBoxSecretKey, theirBoxPublicKey);
  if (!secret) throw new FedlinkError('weak_key', 'peer box key gives an all-zero X25519 secret');
  const out = new Uint8Array(32);
  lowlevel.crypto_core_hsalsa20(out, new Uint8Array(16), secret, SIGMA);
  secret.fill(0);
  return out;
}

/**
 * `sharedKey`, derived on first call and kept (a failure too: the inputs don't change). A
 * coordinator holds one per joined client but opens envelopes only from the clients it selects,
 * so the X25519 waits for the first update instead of costing every hello. The peer key is
 * checked now, as `sharedKey` would: a low-order key is refused where it is presented.
 */
export function deferredSharedKey(theirBoxPublicKey: Uint8Array, myBoxSecretKey: Uint8Array): () => Promise<Uint8Array> {
  assertBoxKey(theirBoxPublicKey, 'peer box key');
  let key: Promise<Uint8Array> | undefined;
  return () => (key ??= sharedKey(theirBoxPublicKey, myBoxSecretKey));
}

export async function seal(plaintext: Uint8Array, shared: Uint8Array, associatedData: Uint8Array): Promise<SealedEnvelope> {
  const nonce = nacl.randomBytes(24);
  return { nonce, ciphertext: await ENVELOPE_CIPHER.seal(shared, nonce, plaintext, associatedData) };
}

/** Opens an envelope or throws `decrypt_failed` (wrong key, wrong context, or tampered bytes). */
export async function open(envelope: SealedEnvelope, shared: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array> {
  if (envelope.nonce.length !== 24) throw new FedlinkError('decrypt_failed', 'envelope nonce must be 24 bytes');
  try {
    return await ENVELOPE_CIPHER.open(shared, envelope.nonce, envelope.ciphertext, associatedData);
  } catch {
    throw new FedlinkError('decrypt_failed', 'sealed payload could not be opened: wrong key, wrong round/run, or tampered');
  }
}

/**
 * `open` into the caller's buffer (a worker's shared slot: the coordinator's intake pool):
 * returns the plaintext's length, or throws `decrypt_failed` as `open` does.
 */
export async function openInto(envelope: SealedEnvelope, shared: Uint8Array, associatedData: Uint8Array, out: Uint8Array): Promise<number> {
  if (envelope.nonce.length !== 24) throw new FedlinkError('decrypt_failed', 'envelope nonce must be 24 bytes');
  try {
    return await ENVELOPE_CIPHER.openInto(shared, envelope.nonce, envelope.ciphertext, associatedData, out);
  } catch (err) {
    if (err instanceof RangeError) throw err;
    throw new FedlinkError('decrypt_failed', 'sealed payload could not be opened: wrong key, wrong round/run, or tampered');
  }
}

/** Associated data of an update envelope: what it is, for which run, round and client. */
export function updateContext(runId: string, round: number, clientId: string): Uint8Array {
  return utf8(`fedlink/update/v1\0${runId}\0${round}\0${clientId}`);
}

/** AES-GCM adds a 16-byte tag. */
export const ENVELOPE_OVERHEAD = 16;
