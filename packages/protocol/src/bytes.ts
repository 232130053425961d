// Isomorphic byte helpers (Node and browsers), no Buffer.

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/**
 * Views binary that arrived over socket.io as a Uint8Array. Node delivers Buffers, browsers
 * ArrayBuffers; `ArrayBuffer.isView` works across realms where `instanceof` does not.
 */
export function asBytes(value: unknown): Uint8Array | undefined {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || Object.prototype.toString.call(value) === '[object ArrayBuffer]') {
    return new Uint8Array(value as ArrayBuffer);
  }
  return undefined;
}

/** Binary fields up to this size travel as base64 text (see packSmallBinaries). */
export const SMALL_BINARY_BYTES = 4096;

/** What packSmallBinaries makes of a `T`: any of its binary fields may have become base64 text. */
export type Packed<T> = T extends ArrayBufferView
  ? T | string
  : T extends readonly (infer U)[]
    ? Packed<U>[]
    : T extends object
      ? { [K in keyof T]: Packed<T[K]> }
      : T;

/**
 * Replaces small binary fields (keys, signatures, sealed shares) with base64 strings, leaving
 * large ones (tensors, masked vectors) as binary attachments. socket.io-parser refuses packets
 * with more than 10 attachments (a bound that protects the decoder's memory), and a
 * secure-aggregation message carries one key or share per neighbour; as text they ride in the
 * packet's JSON instead. Schemas that read such fields accept both forms.
 */
export function packSmallBinaries<T>(value: T, limit = SMALL_BINARY_BYTES): Packed<T> {
  return pack(value, limit) as Packed<T>;
}

function pack(value: unknown, limit: number): unknown {
  if (ArrayBuffer.isView(value)) {
    const b = asBytes(value)!;
    return b.length <= limit ? toBase64(b) : b;
  }
  if (Array.isArray(value)) return value.map((v) => pack(v, limit));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = pack(v, limit);
    return out;
  }
  return value;
}

/** Binary from either wire form: an attachment, or base64 text of at most `maxTextBytes` bytes. */
export function bytesFromWire(value: unknown, maxTextBytes = SMALL_BINARY_BYTES): Uint8Array | undefined {
  if (typeof value === 'string') {
    if (value.length > Math.ceil(maxTextBytes / 3) * 4) return undefined;
    try {
      return fromBase64(value);
    } catch {
      return undefined;
    }
  }
  return asBytes(value);
}
