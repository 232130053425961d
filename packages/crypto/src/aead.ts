import type * as NodeCrypto from 'node:crypto';
import { utf8 } from '@fedlink/protocol';
import { nodeCrypto } from './native.js';

/**
 * The bulk step of a sealed envelope (envelope.ts): HKDF-SHA256 of the shared key, salted with
 * the envelope's 24-byte nonce, gives a one-time AES-256 key and a 12-byte IV; AES-256-GCM with
 * the associated data then seals or opens. Two implementations, byte for byte the same:
 * - Node's crypto, synchronous, where `process.getBuiltinModule` offers it (Node >= 20.16): about
 *   2 GB/s for a 0.8 MB update here, against 0.4-0.6 GB/s for WebCrypto, whose four calls per
 *   envelope each cross to the thread pool and copy;
 * - WebCrypto everywhere else (browsers, older Node).
 */
export interface EnvelopeCipher {
  readonly name: 'node' | 'webcrypto';
  seal(shared: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array>;
  /** Rejects (with any error) when the tag does not verify. */
  open(shared: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Promise<Uint8Array>;
  /**
   * Opens into `out` (at least ciphertext length - 16 bytes; a SharedArrayBuffer's view will do)
   * and returns the plaintext's length; rejects when the tag does not verify, and `out` then holds
   * nothing to use. Node's decrypts piece by piece, never holding the whole plaintext twice.
   */
  openInto(shared: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array, out: Uint8Array): Promise<number>;
}

const INFO = utf8('fedlink/envelope/v1');
/** Piece size of Node's openInto: small enough for the young generation, big enough to amortise the calls. */
const OPEN_PIECE_BYTES = 32 * 1024;

function assertRoom(out: Uint8Array, need: number): void {
  if (out.length < need) throw new RangeError(`openInto needs ${need} bytes of room, got ${out.length}`);
}
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available: use Node >= 20 or a secure (https/localhost) page');
  return s;
}

async function deriveAesKey(shared: Uint8Array, nonce: Uint8Array): Promise<{ key: CryptoKey; iv: Uint8Array }> {
  const s = subtle();
  const ikm = await s.importKey('raw', shared as BufferSource, 'HKDF', false, ['deriveBits']);
  const bits = new Uint8Array(
    await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: nonce as BufferSource, info: INFO as BufferSource }, ikm, (KEY_BYTES + IV_BYTES) * 8),
  );
  const key = await s.importKey('raw', bits.subarray(0, KEY_BYTES) as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const iv = bits.slice(KEY_BYTES);
  bits.fill(0);
  return { key, iv };
}

export const WEBCRYPTO_CIPHER: EnvelopeCipher = {
  name: 'webcrypto',
  async seal(shared, nonce, plaintext, associatedData) {
    const { key, iv } = await deriveAesKey(shared, nonce);
    return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: associatedData as BufferSource }, key, plaintext as BufferSource));
  },
  async open(shared, nonce, ciphertext, associatedData) {
    const { key, iv } = await deriveAesKey(shared, nonce);
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: associatedData as BufferSource }, key, ciphertext as BufferSource));
  },
  async openInto(shared, nonce, ciphertext, associatedData, out) {
    const plaintext = await WEBCRYPTO_CIPHER.open(shared, nonce, ciphertext, associatedData);
    assertRoom(out, plaintext.length);
    out.set(plaintext);
    return plaintext.length;
  },
};

function nodeCipher(c: typeof NodeCrypto): EnvelopeCipher {
  const derive = (shared: Uint8Array, nonce: Uint8Array): Uint8Array => new Uint8Array(c.hkdfSync('sha256', shared, nonce, INFO, KEY_BYTES + IV_BYTES));
  /** A plain Uint8Array over a Buffer's bytes (as WebCrypto returns), no copy. */
  const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return {
    name: 'node',
    async seal(shared, nonce, plaintext, associatedData) {
      const bits = derive(shared, nonce);
      try {
        const cipher = c.createCipheriv('aes-256-gcm', bits.subarray(0, KEY_BYTES), bits.subarray(KEY_BYTES), { authTagLength: TAG_BYTES });
        cipher.setAAD(associatedData);
        const out = new Uint8Array(plaintext.length + TAG_BYTES);
        let at = 0;
        for (const part of [cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]) {
          out.set(part, at);
          at += part.length;
        }
        return out;
      } finally {
        bits.fill(0);
      }
    },
    async open(shared, nonce, ciphertext, associatedData) {
      if (ciphertext.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
      const bits = derive(shared, nonce);
      try {
        const decipher = c.createDecipheriv('aes-256-gcm', bits.subarray(0, KEY_BYTES), bits.subarray(KEY_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(associatedData);
        decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
        const body = decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES));
        const rest = decipher.final(); // throws when the tag does not verify
        if (rest.length === 0) return bytesOf(body);
        const out = new Uint8Array(body.length + rest.length);
        out.set(body);
        out.set(rest, body.length);
        return out;
      } finally {
        bits.fill(0);
      }
    },
    async openInto(shared, nonce, ciphertext, associatedData, out) {
      if (ciphertext.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
      const length = ciphertext.length - TAG_BYTES;
      assertRoom(out, length);
      const bits = derive(shared, nonce);
      try {
        const decipher = c.createDecipheriv('aes-256-gcm', bits.subarray(0, KEY_BYTES), bits.subarray(KEY_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(associatedData);
        decipher.setAuthTag(ciphertext.subarray(length));
        let at = 0;
        for (let from = 0; from < length; from += OPEN_PIECE_BYTES) {
          const piece = decipher.update(ciphertext.subarray(from, Math.min(length, from + OPEN_PIECE_BYTES)));
          out.set(piece, at);
          at += piece.length;
        }
        const rest = decipher.final(); // throws when the tag does not verify
        out.set(rest, at);
        return at + rest.length;
      } finally {
        bits.fill(0);
      }
    },
  };
}

const node = nodeCrypto();

/** Node's cipher where this is Node (undefined elsewhere), for tests that compare the two. */
export const NODE_CIPHER: EnvelopeCipher | undefined = node && typeof node.hkdfSync === 'function' ? nodeCipher(node) : undefined;

/** The implementation this platform uses. */
export const ENVELOPE_CIPHER: EnvelopeCipher = NODE_CIPHER ?? WEBCRYPTO_CIPHER;
