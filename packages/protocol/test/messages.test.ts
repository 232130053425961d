import { FedlinkError, HelloSchema, UpdateSchema, parseMessage, toBase64, fromBase64, PROTOCOL_VERSION } from '@fedlink/protocol';

const key = toBase64(new Uint8Array(32).fill(7));
const hello = {
  protocol: PROTOCOL_VERSION,
  signPublicKey: key,
  boxPublicKey: key,
  signature: toBase64(new Uint8Array(64)),
  token: 't',
  platform: 'node',
  backend: 'wasm',
  numExamples: 10,
};

test('a valid hello parses; unknown keys, wrong sizes and wrong types are refused with the field named', () => {
  expect(parseMessage(HelloSchema, hello, 'hello').numExamples).toBe(10);
  const refuse = (raw: unknown) => {
    try {
      parseMessage(HelloSchema, raw, 'hello');
      return 'accepted';
    } catch (e) {
      expect(e).toBeInstanceOf(FedlinkError);
      expect((e as FedlinkError).code).toBe('bad_request');
      return (e as Error).message;
    }
  };
  expect(refuse({ ...hello, extra: 1 })).toMatch(/malformed hello/);
  expect(refuse({ ...hello, boxPublicKey: toBase64(new Uint8Array(31)) })).toMatch(/boxPublicKey/);
  expect(refuse({ ...hello, numExamples: -1 })).toMatch(/numExamples/);
  expect(refuse({ ...hello, platform: 'toaster' })).toMatch(/platform/);
  expect(refuse({ ...hello, token: 'x'.repeat(10_000) })).toMatch(/token/);
  expect(refuse(null)).toMatch(/malformed hello/);
  expect(refuse('x'.repeat(1_000_000)).length).toBeLessThan(300);
});

test('updates need binary envelopes with 24-byte nonces', () => {
  const update = { runId: 'r', round: 1, numExamples: 5, metrics: { loss: 0.1 }, envelope: { nonce: new Uint8Array(24), ciphertext: new Uint8Array(10) } };
  expect(parseMessage(UpdateSchema, update, 'update').round).toBe(1);
  expect(() => parseMessage(UpdateSchema, { ...update, envelope: { nonce: new Uint8Array(23), ciphertext: new Uint8Array(1) } }, 'u')).toThrow(/nonce/);
  expect(() => parseMessage(UpdateSchema, { ...update, envelope: { nonce: new Uint8Array(24), ciphertext: [1, 2, 3] } }, 'u')).toThrow(/ciphertext/);
  expect(() => parseMessage(UpdateSchema, { ...update, metrics: { loss: NaN } }, 'u')).toThrow(/loss/);
});

test('base64 round-trips bytes', () => {
  const b = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
  expect(Array.from(fromBase64(toBase64(b)))).toEqual(Array.from(b));
});
