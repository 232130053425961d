import { FedlinkError, decodeTensors, encodeTensors, encodedSize, float16ToFloat32, float32ToFloat16, type TensorSpec } from '@fedlink/protocol';

const manifest: TensorSpec[] = [
  { name: 'a/kernel', shape: [3, 5] },
  { name: 'a/bias', shape: [5] },
  { name: 'b/kernel', shape: [5, 1] },
];
const values = Float32Array.from({ length: 25 }, (_, i) => Math.sin(i) * (i + 1));

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof FedlinkError ? e.code : `untyped: ${String(e)}`;
  }
  return 'no error';
};

test('float32 round-trips exactly and its size is known in advance', () => {
  const bytes = encodeTensors(manifest, values);
  expect(bytes.length).toBe(encodedSize(manifest));
  const out = decodeTensors(bytes, manifest);
  expect(Array.from(out.flat)).toEqual(Array.from(values));
  expect(out.manifest).toEqual(manifest);
});

test('decodes from an unaligned view (socket buffers have arbitrary offsets)', () => {
  const bytes = encodeTensors(manifest, values);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  expect(Array.from(decodeTensors(shifted.subarray(1)).flat)).toEqual(Array.from(values));
});

test('shareMemory: an aligned float32 buffer is viewed, not copied; unaligned or other encodings are copied', () => {
  const bytes = encodeTensors(manifest, values);
  const shared = decodeTensors(bytes, manifest, { shareMemory: true }).flat;
  expect(Array.from(shared)).toEqual(Array.from(values));
  expect(shared.buffer).toBe(bytes.buffer);
  bytes[bytes.length - 1]! ^= 0x80; // the last element's sign bit: the view sees it
  expect(shared[24]).toBe(-values[24]!);
  expect(decodeTensors(bytes, manifest).flat.buffer).not.toBe(bytes.buffer);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const unaligned = decodeTensors(shifted.subarray(1), manifest, { shareMemory: true }).flat;
  expect(unaligned.buffer).not.toBe(shifted.buffer);
  expect(Array.from(unaligned)).toEqual(Array.from(decodeTensors(bytes).flat));
  const half = encodeTensors(manifest, values, 'float16');
  expect(decodeTensors(half, manifest, { shareMemory: true }).flat.buffer).not.toBe(half.buffer);
});

test('float16 and int8 encodings are lossy within their documented error', () => {
  const f16 = decodeTensors(encodeTensors(manifest, values, 'float16')).flat;
  values.forEach((v, i) => expect(Math.abs(f16[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 1e-7));
  const i8 = decodeTensors(encodeTensors(manifest, values, 'int8')).flat;
  // Per-tensor scale max|x|/127: error at most half a step.
  let off = 0;
  for (const t of manifest) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const max = Math.max(...Array.from(values.subarray(off, off + n), Math.abs));
    for (let i = off; i < off + n; i++) expect(Math.abs(i8[i]! - values[i]!)).toBeLessThanOrEqual(max / 127 / 2 + 1e-6);
    off += n;
  }
  const big = [{ name: 'w', shape: [100, 100] }];
  const bigValues = Float32Array.from({ length: 10_000 }, (_, i) => Math.cos(i));
  expect(encodeTensors(big, bigValues, 'int8').length).toBeLessThan(encodeTensors(big, bigValues).length / 3.9);
  expect(encodeTensors(big, bigValues, 'float16').length).toBeLessThan(encodeTensors(big, bigValues).length / 1.95);
});

test('float16 conversion handles specials and rounding', () => {
  for (const x of [0, 1, -2, 65504, 6.103515625e-5, 5.960464477539063e-8]) expect(float16ToFloat32(float32ToFloat16(x))).toBe(x);
  expect(float16ToFloat32(float32ToFloat16(1e6))).toBe(Infinity);
  expect(Number.isNaN(float16ToFloat32(float32ToFloat16(NaN)))).toBe(true);
});

test('malformed buffers get typed errors, never out-of-bounds reads', () => {
  const good = encodeTensors(manifest, values);
  expect(codeOf(() => decodeTensors(new Uint8Array(3)))).toBe('bad_request');
  const badMagic = good.slice();
  badMagic[0] = 0;
  expect(codeOf(() => decodeTensors(badMagic))).toBe('bad_request');
  const hugeHeader = good.slice();
  new DataView(hugeHeader.buffer).setUint32(4, 0xffffffff, true);
  expect(codeOf(() => decodeTensors(hugeHeader))).toBe('bad_request');
  expect(codeOf(() => decodeTensors(good.subarray(0, good.length - 4)))).toBe('shape_mismatch');
  const garbageHeader = good.slice();
  garbageHeader[10] = 0xff;
  expect(codeOf(() => decodeTensors(garbageHeader))).toBe('bad_request');
  expect(codeOf(() => decodeTensors(good, [{ name: 'a/kernel', shape: [5, 3] }, manifest[1]!, manifest[2]!]))).toBe('shape_mismatch');
  expect(codeOf(() => decodeTensors(good, manifest.slice(0, 2)))).toBe('shape_mismatch');
  expect(codeOf(() => encodeTensors(manifest, new Float32Array(3)))).toBe('shape_mismatch');
});
