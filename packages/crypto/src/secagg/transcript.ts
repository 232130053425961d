import { utf8 } from '@fedlink/protocol';

/**
 * Unambiguous byte encoding of what a signature, an AEAD or a key derivation is bound to.
 * Every part is tagged with its type and length-prefixed, so no two different part lists encode
 * to the same bytes (`("ab","c")` vs `("a","bc")`), and everything starts with one domain string
 * so secagg bytes can't be confused with any other fedlink signature (hello proofs, envelopes).
 */
export type TranscriptPart = string | number | Uint8Array;

const DOMAIN = utf8('fedlink/secagg/v1');
const TAG_STRING = 1;
const TAG_NUMBER = 2;
const TAG_BYTES = 3;

export function transcript(label: string, ...parts: TranscriptPart[]): Uint8Array {
  const encoded: Array<[number, Uint8Array]> = [[TAG_STRING, DOMAIN], [TAG_STRING, utf8(label)]];
  for (const p of parts) {
    if (typeof p === 'string') encoded.push([TAG_STRING, utf8(p)]);
    else if (typeof p === 'number') {
      if (!Number.isSafeInteger(p)) throw new RangeError('transcript numbers must be safe integers');
      encoded.push([TAG_NUMBER, utf8(String(p))]);
    } else encoded.push([TAG_BYTES, p]);
  }
  const total = encoded.reduce((n, [, b]) => n + 5 + b.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const [tag, b] of encoded) {
    out[off] = tag;
    view.setUint32(off + 1, b.length, true);
    out.set(b, off + 5);
    off += 5 + b.length;
  }
  return out;
}
