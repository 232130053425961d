import nacl from 'tweetnacl';
import { FedlinkError } from '@fedlink/protocol';
import { ENVELOPE_CIPHER, ENVELOPE_OVERHEAD, NODE_CIPHER, WEBCRYPTO_CIPHER, X25519_LOW_ORDER, deferredSharedKey, fingerprint, generateIdentity, identityFromSeed, identityFromJson, identityToJson, open, openInto, sameFingerprint, seal, sharedKey, signHello, updateContext, verifyHello } from '@fedlink/crypto';

test('an envelope opens only with the right keys and the same context', async () => {
  const client = generateIdentity();
  const server = generateIdentity();
  const other = generateIdentity();
  const payload = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
  const ctx = updateContext('run_1', 3, 'client-a');
  const env = await seal(payload, await sharedKey(server.boxPublicKey, client.boxSecretKey), ctx);
  expect(env.ciphertext.length).toBe(payload.length + 16);
  expect(Buffer.from(env.ciphertext.subarray(0, 64)).equals(Buffer.from(payload.subarray(0, 64)))).toBe(false);
  const serverSide = await sharedKey(client.boxPublicKey, server.boxSecretKey);
  expect(Array.from(await open(env, serverSide, ctx))).toEqual(Array.from(payload));

  const fails = async (p: Promise<unknown>) => {
    await expect(p).rejects.toBeInstanceOf(FedlinkError);
    await expect(p).rejects.toMatchObject({ code: 'decrypt_failed' });
  };
  await fails(open(env, await sharedKey(other.boxPublicKey, server.boxSecretKey), ctx)); // sealed by someone else
  await fails(open(env, serverSide, updateContext('run_1', 4, 'client-a'))); // moved to another round
  await fails(open(env, serverSide, updateContext('run_1', 3, 'client-b'))); // claimed by another client
  const flipped = { ...env, ciphertext: env.ciphertext.slice() };
  flipped.ciphertext[5]! ^= 0x80;
  await fails(open(flipped, serverSide, ctx));
  // Fresh nonce per envelope: sealing the same payload twice gives unrelated ciphertexts.
  const again = await seal(payload, await sharedKey(server.boxPublicKey, client.boxSecretKey), ctx);
  expect(Buffer.from(again.nonce).equals(Buffer.from(env.nonce))).toBe(false);
});

test('deferredSharedKey derives sharedKey once, on first call; a low-order peer key is refused when the key is made', async () => {
  const a = generateIdentity();
  const b = generateIdentity();
  const key = deferredSharedKey(b.boxPublicKey, a.boxSecretKey);
  const first = key();
  expect(key()).toBe(first);
  expect(await first).toEqual(await sharedKey(b.boxPublicKey, a.boxSecretKey));
  expect(await first).toEqual(nacl.box.before(b.boxPublicKey, a.boxSecretKey));
  for (const low of X25519_LOW_ORDER) {
    expect(() => deferredSharedKey(low, a.boxSecretKey)).toThrow(expect.objectContaining({ code: 'weak_key' }));
  }
  expect(() => deferredSharedKey(new Uint8Array(31), a.boxSecretKey)).toThrow(expect.objectContaining({ code: 'weak_key' }));
});

test('hello proof binds the challenge, the connection and the box key', async () => {
  const id = generateIdentity();
  const challenge = new Uint8Array(32).fill(1);
  const sig = await signHello(id.signSecretKey, challenge, 'sock-1', id.boxPublicKey);
  expect(await verifyHello(id.signPublicKey, sig, challenge, 'sock-1', id.boxPublicKey)).toBe(true);
  expect(await verifyHello(id.signPublicKey, sig, new Uint8Array(32).fill(2), 'sock-1', id.boxPublicKey)).toBe(false);
  expect(await verifyHello(id.signPublicKey, sig, challenge, 'sock-2', id.boxPublicKey)).toBe(false);
  expect(await verifyHello(id.signPublicKey, sig, challenge, 'sock-1', generateIdentity().boxPublicKey)).toBe(false);
});

test('identity files round-trip and corrupt ones are refused; fingerprints compare loosely', () => {
  const id = generateIdentity();
  const back = identityFromJson(JSON.parse(JSON.stringify(identityToJson(id))));
  expect(fingerprint(back)).toBe(fingerprint(id));
  const f = identityToJson(id);
  expect(() => identityFromJson({ ...f, boxPublicKey: identityToJson(generateIdentity()).boxPublicKey })).toThrow(/corrupt/);
  expect(() => identityFromJson({ kind: 'x' })).toThrow(/not a fedlink identity/);
  const fp = fingerprint(id);
  expect(sameFingerprint(fp.toUpperCase().replace(/:/g, ''), fp)).toBe(true);
  expect(sameFingerprint(fingerprint(generateIdentity()), fp)).toBe(false);
});

test('seeded identities (simulations) are reproducible, distinct per seed, and valid key pairs', () => {
  const a = identityFromSeed(new Uint8Array(32).fill(1));
  const again = identityFromSeed(new Uint8Array(32).fill(1));
  const b = identityFromSeed(new Uint8Array(32).fill(2));
  expect(fingerprint(again)).toBe(fingerprint(a));
  expect(fingerprint(b)).not.toBe(fingerprint(a));
  // The keys work: an identity file round-trips only if the pairs belong together.
  expect(fingerprint(identityFromJson(identityToJson(a)))).toBe(fingerprint(a));
  expect(Buffer.from(a.boxSecretKey).equals(Buffer.from(a.signSecretKey.subarray(0, 32)))).toBe(false);
  expect(() => identityFromSeed(new Uint8Array(16))).toThrow(/32 bytes/);
});

test("Node's AES-GCM and WebCrypto's seal to the same bytes and open each other's; both refuse a tampered tag or context", async () => {
  expect(ENVELOPE_CIPHER.name).toBe('node');
  const node = NODE_CIPHER!;
  const shared = nacl.randomBytes(32);
  const ctx = updateContext('run_1', 3, 'client-a');
  for (const size of [0, 1, 15, 16, 4097, 200_003]) {
    const payload = nacl.randomBytes(size);
    const nonce = nacl.randomBytes(24);
    const a = await node.seal(shared, nonce, payload, ctx);
    const b = await WEBCRYPTO_CIPHER.seal(shared, nonce, payload, ctx);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBe(size + ENVELOPE_OVERHEAD);
    expect(Buffer.from(await node.open(shared, nonce, b, ctx)).equals(Buffer.from(payload))).toBe(true);
    expect(Buffer.from(await WEBCRYPTO_CIPHER.open(shared, nonce, a, ctx)).equals(Buffer.from(payload))).toBe(true);
    const tampered = a.slice();
    tampered[tampered.length - 1]! ^= 1;
    for (const c of [node, WEBCRYPTO_CIPHER]) {
      await expect(c.open(shared, nonce, tampered, ctx)).rejects.toBeDefined();
      await expect(c.open(shared, nonce, a, updateContext('run_1', 4, 'client-a'))).rejects.toBeDefined();
    }
  }
  await expect(node.open(shared, nacl.randomBytes(24), new Uint8Array(15), ctx)).rejects.toBeDefined();
});

test('openInto opens into shared memory exactly what open returns (both ciphers, across its 256 KiB pieces); refusals as open', async () => {
  const shared = nacl.randomBytes(32);
  const ctx = updateContext('run_1', 3, 'client-a');
  for (const size of [0, 5, 262_144, 262_145, 800_003]) {
    const payload = nacl.randomBytes(size);
    const envelope = await seal(payload, shared, ctx);
    for (const c of [NODE_CIPHER!, WEBCRYPTO_CIPHER]) {
      const out = new Uint8Array(new SharedArrayBuffer(size + 64)).fill(0xee);
      const n = await c.openInto(shared, envelope.nonce, envelope.ciphertext, ctx, out);
      expect(n).toBe(size);
      expect(Buffer.from(out.subarray(0, n)).equals(Buffer.from(payload))).toBe(true);
      expect(out[n]).toBe(0xee);
    }
    expect(await openInto(envelope, shared, ctx, new Uint8Array(size))).toBe(size);
    const tampered = { nonce: envelope.nonce, ciphertext: envelope.ciphertext.slice() };
    tampered.ciphertext[0]! ^= 1;
    await expect(openInto(tampered, shared, ctx, new Uint8Array(size + 16))).rejects.toMatchObject({ code: 'decrypt_failed' });
    await expect(openInto(envelope, shared, updateContext('run_1', 4, 'client-a'), new Uint8Array(size + 16))).rejects.toMatchObject({ code: 'decrypt_failed' });
  }
  const envelope = await seal(new Uint8Array(100), shared, ctx);
  await expect(openInto(envelope, shared, ctx, new Uint8Array(99))).rejects.toThrow(RangeError);
  await expect(openInto({ nonce: new Uint8Array(12), ciphertext: envelope.ciphertext }, shared, ctx, new Uint8Array(100))).rejects.toMatchObject({ code: 'decrypt_failed' });
});
