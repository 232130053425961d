import nacl from 'tweetnacl';
import { concatBytes } from '@fedlink/protocol';
import { generateIdentity, identityFromSeed, identityKeysBy, sharedKey, signHello, verifyHello } from '@fedlink/crypto';

/** What identityFromSeed gave when tweetnacl derived every key (the formats every stored identity has). */
function tweetnaclIdentity(seed: Uint8Array) {
  const sign = nacl.sign.keyPair.fromSeed(seed);
  const box = nacl.box.keyPair.fromSecretKey(nacl.hash(concatBytes(new TextEncoder().encode('fedlink/box-key/v1\0'), seed)).slice(0, 32));
  return { signPublicKey: sign.publicKey, signSecretKey: sign.secretKey, boxPublicKey: box.publicKey, boxSecretKey: box.secretKey };
}

describe('identities', () => {
  test("in Node, Node's crypto derives the public keys", () => {
    expect(identityKeysBy()).toBe('node');
  });

  test('identityFromSeed gives the keys tweetnacl gives, byte for byte (64 random seeds, and the all-zero and all-0xff seeds)', () => {
    const seeds = [new Uint8Array(32), new Uint8Array(32).fill(0xff), ...Array.from({ length: 64 }, () => nacl.randomBytes(32))];
    for (const seed of seeds) expect(identityFromSeed(seed)).toEqual(tweetnaclIdentity(seed));
  });

  test('generateIdentity: fresh keys each time, each public key the one its secret gives, usable for hello and agreement', async () => {
    const a = generateIdentity();
    const b = generateIdentity();
    expect(a.signSecretKey).not.toEqual(b.signSecretKey);
    expect(a.boxSecretKey).not.toEqual(b.boxSecretKey);
    for (const id of [a, b]) {
      expect(id.signSecretKey.subarray(32)).toEqual(id.signPublicKey);
      expect(nacl.sign.keyPair.fromSecretKey(id.signSecretKey).publicKey).toEqual(id.signPublicKey);
      expect(nacl.scalarMult.base(id.boxSecretKey)).toEqual(id.boxPublicKey);
      const msg = new Uint8Array([1, 2, 3]);
      expect(nacl.sign.detached.verify(msg, nacl.sign.detached(msg, id.signSecretKey), id.signPublicKey)).toBe(true);
    }
    const nonce = nacl.randomBytes(32);
    const sig = await signHello(a.signSecretKey, nonce, 'conn-1', a.boxPublicKey);
    expect(await verifyHello(a.signPublicKey, sig, nonce, 'conn-1', a.boxPublicKey)).toBe(true);
    expect(await sharedKey(b.boxPublicKey, a.boxSecretKey)).toEqual(await sharedKey(a.boxPublicKey, b.boxSecretKey));
  });
});
