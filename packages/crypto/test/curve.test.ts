import nacl from 'tweetnacl';
import { NODE_CURVE, TWEETNACL_CURVE, WEBCRYPTO_CURVE, type Curve, curve, generateIdentity, sharedKey, signHello, verifyHello } from '@fedlink/crypto';

// Native (WebCrypto, Node's crypto) and tweetnacl must be interchangeable: same bytes on the wire,
// each side free to use any. The edge cases (mixed-order keys, S >= L, small-order points) are in
// key-checks.test.ts, next to the checks that stand in front of both.
const NATIVES: [string, Curve][] = [
  ['webcrypto', WEBCRYPTO_CURVE],
  ['node', NODE_CURVE!],
];

describe.each(NATIVES)('%s and tweetnacl give the same results on random keys', (_name, NATIVE) => {
  test('Ed25519: byte-identical signatures, and each verifies the other', async () => {
    for (let i = 0; i < 12; i++) {
      const pair = nacl.sign.keyPair();
      const msg = nacl.randomBytes(1 + i * 17);
      const native = await NATIVE.sign(msg, pair.secretKey);
      const js = await TWEETNACL_CURVE.sign(msg, pair.secretKey);
      expect(Buffer.from(native).toString('hex')).toBe(Buffer.from(js).toString('hex'));
      expect(await NATIVE.verify(msg, js, pair.publicKey)).toBe(true);
      expect(await TWEETNACL_CURVE.verify(msg, native, pair.publicKey)).toBe(true);
      const other = msg.slice();
      other[0]! ^= 1;
      expect(await NATIVE.verify(other, js, pair.publicKey)).toBe(false);
      expect(await TWEETNACL_CURVE.verify(other, native, pair.publicKey)).toBe(false);
    }
  });

  test('X25519: the same secret both ways, and sharedKey is nacl.box.before byte for byte', async () => {
    for (let i = 0; i < 12; i++) {
      const a = nacl.box.keyPair();
      const b = nacl.box.keyPair();
      const native = await NATIVE.x25519(a.secretKey, b.publicKey);
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
    const first = await NATIVE.x25519(secret, peer);
    secret.set(nacl.randomBytes(32));
    expect(await NATIVE.x25519(secret, peer)).toEqual(nacl.scalarMult(secret, peer));
    expect(await NATIVE.x25519(secret, peer)).not.toEqual(first);
  });

});

describe('the curve a platform uses', () => {
  test("Node uses Node's crypto (OpenSSL) for Ed25519 and X25519", async () => {
    expect(NODE_CURVE).toBeDefined();
    expect((await curve()).name).toBe('node');
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
