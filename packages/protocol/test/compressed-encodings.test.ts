import { FedlinkError, type TensorSpec, decodeTensors, encodeQuantized8, encodeSparse, encodeTensors, encodedSize, topkKept } from '@fedlink/protocol';

const manifest: TensorSpec[] = [
  { name: 'a/kernel', shape: [4, 5] },
  { name: 'a/bias', shape: [5] },
  { name: 'b/kernel', shape: [3] },
];

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof FedlinkError ? e.code : `untyped: ${String(e)}`;
  }
  return 'no error';
};

/** Rewrites the JSON header of an encoded buffer (same length or not) and re-packs it. */
function withHeader(bytes: Uint8Array, edit: (h: { encoding: string; tensors: Record<string, unknown>[] }) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  const dataStart = (8 + len + 3) & ~3;
  edit(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const start = (8 + text.length + 3) & ~3;
  const out = new Uint8Array(start + bytes.length - dataStart);
  out.set(bytes.subarray(0, 4));
  new DataView(out.buffer).setUint32(4, text.length, true);
  out.set(text, 8);
  out.set(bytes.subarray(dataStart), start);
  return out;
}

const levelsFor = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 11) % 256);
const sq8Tensors = () => [
  { lo: -0.5, hi: 0.75, levels: levelsFor(20, 1) },
  { lo: 0.125, hi: 0.125, levels: new Uint8Array(5) },
  { lo: -3, hi: 1e-3, levels: levelsFor(3, 2) },
];

describe('sq8', () => {
  test('decodes exactly to lo + q * (hi - lo) / 255 per tensor, within the size bound', () => {
    const tensors = sq8Tensors();
    const bytes = encodeQuantized8(manifest, tensors);
    expect(bytes.length).toBeLessThanOrEqual(encodedSize(manifest, 'sq8'));
    const out = decodeTensors(bytes, manifest);
    expect(out.encoding).toBe('sq8');
    const expected = tensors.flatMap(({ lo, hi, levels }) => Array.from(levels, (q) => Math.fround(lo + q * ((hi - lo) / 255))));
    expect(Array.from(out.flat)).toEqual(expected);
    // one byte per entry: 28 entries in 3 tensors, each padded to 4 (20 + 8 + 4)
    const dataStart = (8 + new DataView(bytes.buffer).getUint32(4, true) + 3) & ~3;
    expect(bytes.length - dataStart).toBe(32);
  });

  test('a bad range or a level count that does not fit the manifest is a typed error', () => {
    const good = encodeQuantized8(manifest, sq8Tensors());
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[0]!.lo = 2)), manifest))).toBe('bad_request'); // lo > hi
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => delete h.tensors[1]!.hi), manifest))).toBe('bad_request');
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[2]!.lo = 'x')), manifest))).toBe('bad_request');
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[2]!.hi = 1e309)), manifest))).toBe('bad_request'); // JSON Infinity -> null
    expect(codeOf(() => decodeTensors(good.subarray(0, good.length - 4), manifest))).toBe('shape_mismatch');
    expect(codeOf(() => encodeQuantized8(manifest, [sq8Tensors()[0]!]))).toBe('shape_mismatch');
    expect(codeOf(() => encodeQuantized8(manifest, [{ lo: 0, hi: 1, levels: new Uint8Array(19) }, ...sq8Tensors().slice(1)]))).toBe('shape_mismatch');
    expect(codeOf(() => encodeQuantized8(manifest, [{ lo: NaN, hi: 1, levels: new Uint8Array(20) }, ...sq8Tensors().slice(1)]))).toBe('bad_request');
  });
});

describe('topk', () => {
  const sparse = () => [
    { indices: Uint32Array.from([0, 7, 19]), values: Float32Array.from([0.5, -1.25, 3e-5]) },
    { indices: Uint32Array.from([4]), values: Float32Array.from([-0.1]) },
    { indices: new Uint32Array(0), values: new Float32Array(0) },
  ];

  test('decodes exactly to a dense vector with zeros where nothing was sent, 8 bytes per kept entry', () => {
    const bytes = encodeSparse(manifest, sparse());
    const out = decodeTensors(bytes, manifest);
    expect(out.encoding).toBe('topk');
    const dense = new Float32Array(28);
    dense[0] = 0.5;
    dense[7] = -1.25;
    dense[19] = 3e-5;
    dense[20 + 4] = -0.1;
    expect(Array.from(out.flat)).toEqual(Array.from(dense));
    const dataStart = (8 + new DataView(bytes.buffer).getUint32(4, true) + 3) & ~3;
    expect(bytes.length - dataStart).toBe(8 * 4); // 4 kept entries: a u32 index and a float32 value each
  });

  test('the size bound at a fraction covers an update that keeps ceil(fraction * n) per tensor', () => {
    const fraction = 0.1;
    const tensors = manifest.map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const k = topkKept(n, fraction);
      return { indices: Uint32Array.from({ length: k }, (_, i) => i), values: new Float32Array(k).fill(-123456.789) };
    });
    expect(encodeSparse(manifest, tensors).length).toBeLessThanOrEqual(encodedSize(manifest, 'topk', fraction));
    expect(topkKept(20, 0.1)).toBe(2);
    expect(topkKept(3, 0.01)).toBe(1);
    expect(topkKept(0, 0.5)).toBe(0);
  });

  test('indices out of range, repeated or descending, and bad counts are typed errors', () => {
    const good = encodeSparse(manifest, sparse());
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const dataStart = (8 + view(good).getUint32(4, true) + 3) & ~3;
    const poke = (offset: number, value: number): Uint8Array => {
      const b = good.slice();
      view(b).setUint32(dataStart + offset, value, true);
      return b;
    };
    expect(codeOf(() => decodeTensors(poke(0, 20), manifest))).toBe('bad_request'); // index 20 of a 20-entry tensor
    expect(codeOf(() => decodeTensors(poke(4, 0), manifest))).toBe('bad_request'); // repeated index 0
    expect(codeOf(() => decodeTensors(poke(8, 5), manifest))).toBe('bad_request'); // 7 then 5: descending
    expect(codeOf(() => decodeTensors(poke(0, 0xffffffff), manifest))).toBe('bad_request');
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[1]!.k = 6)), manifest))).toBe('bad_request'); // k > n
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[1]!.k = 0.5)), manifest))).toBe('bad_request');
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => delete h.tensors[0]!.k), manifest))).toBe('bad_request');
    expect(codeOf(() => decodeTensors(withHeader(good, (h) => (h.tensors[0]!.k = 2)), manifest))).toBe('shape_mismatch'); // fewer than the data holds
    expect(codeOf(() => encodeSparse(manifest, [{ indices: Uint32Array.from([3, 3]), values: new Float32Array(2) }, ...sparse().slice(1)]))).toBe('bad_request');
    expect(codeOf(() => encodeSparse(manifest, [{ indices: Uint32Array.from([1]), values: new Float32Array(2) }, ...sparse().slice(1)]))).toBe('shape_mismatch');
  });
});

test('the size bound holds with the widest header numbers (negative, with exponents)', () => {
  const wide = -1.2345678901234567e-38;
  const q = manifest.map((t) => ({ lo: wide, hi: -wide / 3, levels: new Uint8Array(t.shape.reduce((a, b) => a * b, 1)) }));
  expect(encodeQuantized8(manifest, q).length).toBeLessThanOrEqual(encodedSize(manifest, 'sq8'));
  const v = new Float32Array(28).fill(Math.fround(wide) * -1e30);
  expect(encodeTensors(manifest, v, 'int8').length).toBeLessThanOrEqual(encodedSize(manifest, 'int8'));
});

test('encodeTensors writes only the dense encodings', () => {
  // @ts-expect-error sq8 is not a dense encoding
  expect(codeOf(() => encodeTensors(manifest, new Float32Array(28), 'sq8'))).toBe('unsupported');
  // @ts-expect-error topk is not a dense encoding
  expect(codeOf(() => encodeTensors(manifest, new Float32Array(28), 'topk'))).toBe('unsupported');
});
