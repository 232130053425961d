import nacl from 'tweetnacl';
import { isAcceptableSignatureForm, isAcceptableSigningKey } from '../key-checks.js';
import { importPrivate, importPublic, nativeCheck, subtleOrUndefined } from './native.js';

/**
 * Ed25519 signatures over secagg transcripts, with the identity keys (tweetnacl format: the
 * 64-byte secret key is seed || public key). Native WebCrypto Ed25519 is used where present: the
 * coordinator verifies one signature per client per stage (~0.2 ms native vs ~10 ms in pure-JS
 * tweetnacl, i.e. 0.08 s instead of 4 s per round at 100 clients). Ed25519 signatures are
 * deterministic (RFC 8032), so a self-test checks native and tweetnacl agree bit for bit before
 * native is trusted; otherwise, or on platforms without it, tweetnacl does the work.
 */
const native = nativeCheck(async () => {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
  const msg = new Uint8Array([1, 2, 3]);
  const expected = nacl.sign.detached(msg, pair.secretKey);
  const sig = new Uint8Array(await subtleOrUndefined()!.sign({ name: 'Ed25519' }, await importPrivate('Ed25519', pair.secretKey), msg as BufferSource));
  const key = await importPublic('Ed25519', pair.publicKey);
  const good = await subtleOrUndefined()!.verify({ name: 'Ed25519' }, key, expected as BufferSource, msg as BufferSource);
  const bad = await subtleOrUndefined()!.verify({ name: 'Ed25519' }, key, expected as BufferSource, new Uint8Array([1, 2, 4]) as BufferSource);
  return nacl.verify(sig, expected) && good && !bad;
});

export async function sign(message: Uint8Array, signSecretKey: Uint8Array): Promise<Uint8Array> {
  if (await native()) {
    const key = await importPrivate('Ed25519', signSecretKey);
    return new Uint8Array(await subtleOrUndefined()!.sign({ name: 'Ed25519' }, key, message as BufferSource));
  }
  return nacl.sign.detached(message, signSecretKey);
}

export async function verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  // tweetnacl and OpenSSL accept small-order keys and R values; libsodium's checks first.
  if (!isAcceptableSigningKey(publicKey) || !isAcceptableSignatureForm(signature)) return false;
  if (await native()) {
    try {
      const key = await importPublic('Ed25519', publicKey);
      return await subtleOrUndefined()!.verify({ name: 'Ed25519' }, key, signature as BufferSource, message as BufferSource);
    } catch {
      return false; // malformed public key
    }
  }
  return nacl.sign.detached.verify(message, signature, publicKey);
}
