import nacl from 'tweetnacl';
import { TWEETNACL_CURVE, WEBCRYPTO_CURVE, curve, generateIdentity, sharedKey, signHello, verifyHello } from '@fedlink/crypto';

// Native (WebCrypto) and tweetnacl must be interchangeable: same bytes on the wire, each side
// free to use either. The edge cases (mixed-order keys, S >= L, small-order points) are in
// key-checks.test.ts, next to the checks that stand in front of both.
describe('WebCrypto and tweetnacl give the same results on random keys', () => {
  test('Node uses native Ed25519 and X25519', async () => {
    expect((await curve()).name).toBe('webcrypto');
  });

  test('Ed25519: byte-identical signatures, and each verifies the other', async () => {
    for (let i = 0; i < 12; i++) {
      const pair = nacl.sign.keyPair();
      const msg = nacl.randomBytes(1 + i * 17);
      const native = await WEBCRYPTO_CURVE.sign(msg, pair.secretKey);
      const js = await TWEETNACL_CURVE.sign(msg, pair.secretKey);
      expect(Buffer.from(native).toString('hex')).toBe(Buffer.from(js).toString('hex'));
      expect(await WEBCRYPTO_CURVE.verify(msg, js, pair.publicKey)).toBe(true);
      expect(await TWEETNACL_CURVE.verify(msg, native, pair.publicKey)).toBe(true);
      const other = msg.slice();
      other[0]! ^= 1;
      expect(await WEBCRYPTO_CURVE.verify(other, js, pair.publicKey)).toBe(false);
      expect(await TWEETNACL_CURVE.verify(other, native, pair.publicKey)).toBe(false);
    }
  });

  test('X25519: the same secret both ways, and sharedKey is nacl.box.before byte for byte', async () => {
    for (let i = 0; i < 12; i++) {
      const a = nacl.box.keyPair();
      const b = nacl.box.keyPair();
      const native = await WEBCRYPTO_CURVE.x25519(a.secretKey, b.publicKey);
      expect(native).toEqual(await TWEETNACL_CURVE.x25519(a.secretKey, b.publicKey));
      expect(native).toEqual(nacl.scalarMult(a.secretKey, b.publicKey));
      const key = await sharedKey(b.publicKey, a.secretKey);
      expect(key).toEqual(nacl.box.before(b.publicKey, a.secretKey));
      expect(await sharedKey(a.publicKey, b.secretKey)).toEqual(key);
    }
  });

  test('a cached private key follows its bytes: the same array refilled with another key gives the other key', async () => {
    const secret = nacl.randomBytes(32);
    const peer = nacl.box.keyPair().publicKey;
    const first = await WEBCRYPTO_CURVE.x25519(secret, peer);
    secret.set(nacl.randomBytes(32));
    expect(await WEBCRYPTO_CURVE.x25519(secret, peer)).toEqual(nacl.scalarMult(secret, peer));
    expect(await WEBCRYPTO_CURVE.x25519(secret, peer)).not.toEqual(first);
  });

  test('a hello signed by tweetnacl verifies natively, and one signed natively is what tweetnacl signs', async () => {
    const id = generateIdentity();
    const challenge = nacl.randomBytes(32);
    const sig = await signHello(id.signSecretKey, challenge, 'conn-1', id.boxPublicKey);
    const transcript = new Uint8Array([...new TextEncoder().encode('fedlink/hello/v1\0'), ...challenge, ...new TextEncoder().encode('\0conn-1\0'), ...id.boxPublicKey]);
    expect(sig).toEqual(nacl.sign.detached(transcript, id.signSecretKey));
    expect(await verifyHello(id.signPublicKey, nacl.sign.detached(transcript, id.signSecretKey), challenge, 'conn-1', id.boxPublicKey)).toBe(true);
  });
});
