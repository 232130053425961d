import { UpdateEncoder } from '@fedlink/client';
import { type TensorSpec, decodeTensors } from '@fedlink/protocol';

const manifest: TensorSpec[] = [
  { name: 'dense/kernel', shape: [10, 10] },
  { name: 'dense/bias', shape: [10] },
];
const N = 110;
const delta = (seed: number): Float32Array => Float32Array.from({ length: N }, (_, i) => Math.sin(i * 1.7 + seed) * (1 + (i % 7)) * 1e-3);
const topk = { encoding: 'topk' as const, topkFraction: 0.05, seed: 1 };

test('topk with error feedback: what round 1 left out is sent in round 2', () => {
  const enc = new UpdateEncoder();
  const d1 = delta(1);
  const first = enc.encode(manifest, d1, topk);
  const sent1 = decodeTensors(first.bytes, manifest).flat;
  // ceil(5% of 100) + ceil(5% of 10) entries sent, each exactly as computed
  const kept1 = [...sent1.keys()].filter((i) => sent1[i] !== 0);
  expect(kept1.length).toBe(5 + 1);
  kept1.forEach((i) => expect(sent1[i]).toBe(d1[i]));
  first.commit();
  expect(Array.from(enc.pendingResidual!)).toEqual(Array.from(d1, (v, i) => (sent1[i] !== 0 ? 0 : v)));

  // A zero delta in round 2: the update is the residual's largest entries, i.e. round 1's next-largest.
  const second = enc.encode(manifest, new Float32Array(N), topk);
  const sent2 = decodeTensors(second.bytes, manifest).flat;
  const kernelOrder = [...d1.subarray(0, 100).keys()].sort((a, b) => Math.abs(d1[b]!) - Math.abs(d1[a]!));
  expect([...sent2.subarray(0, 100).keys()].filter((i) => sent2[i] !== 0).sort((a, b) => a - b)).toEqual(kernelOrder.slice(5, 10).sort((a, b) => a - b));
  second.commit();
  // Everything of d1 is either sent (rounds 1 and 2) or still pending: nothing lost.
  const pending = enc.pendingResidual!;
  for (let i = 0; i < N; i++) expect(sent1[i]! + sent2[i]! + pending[i]!).toBe(d1[i]);
});

test('an update that was not accepted leaves the residual where it was', () => {
  const enc = new UpdateEncoder();
  enc.encode(manifest, delta(1), topk).commit();
  const before = enc.pendingResidual!;
  const refused = enc.encode(manifest, delta(2), topk); // never committed
  expect(Array.from(enc.pendingResidual!)).toEqual(Array.from(before));
  expect(Array.from(enc.encode(manifest, delta(2), topk).bytes)).toEqual(Array.from(refused.bytes));
});

test('a residual of another model is not carried over', () => {
  const enc = new UpdateEncoder();
  enc.encode(manifest, delta(1), topk).commit();
  const small: TensorSpec[] = [{ name: 'w', shape: [4] }];
  const out = decodeTensors(enc.encode(small, Float32Array.from([0, 0, 0.5, 0]), topk).bytes, small).flat;
  expect(Array.from(out)).toEqual([0, 0, 0.5, 0]);
});

test('sq8 through the encoder: each entry within one step of its tensor, reproducible from the seed', () => {
  const enc = new UpdateEncoder();
  const d = delta(3);
  const a = enc.encode(manifest, d, { encoding: 'sq8', seed: 42 }).bytes;
  const out = decodeTensors(a, manifest).flat;
  let off = 0;
  for (const t of manifest) {
    const n = t.shape.reduce((x, y) => x * y, 1);
    const part = d.subarray(off, off + n);
    const step = (Math.max(...part) - Math.min(...part)) / 255;
    for (let i = off; i < off + n; i++) expect(Math.abs(out[i]! - d[i]!)).toBeLessThanOrEqual(step * (1 + 1e-5));
    off += n;
  }
  const dataStart = (8 + new DataView(a.buffer, a.byteOffset).getUint32(4, true) + 3) & ~3;
  expect(a.length - dataStart).toBe(100 + 12); // one byte per entry, each tensor padded to 4
  expect(Array.from(enc.encode(manifest, d, { encoding: 'sq8', seed: 42 }).bytes)).toEqual(Array.from(a));
  expect(Array.from(enc.encode(manifest, d, { encoding: 'sq8', seed: 43 }).bytes)).not.toEqual(Array.from(a));
});

test('the dense encodings pass through unchanged', () => {
  const d = delta(4);
  expect(Array.from(decodeTensors(new UpdateEncoder().encode(manifest, d, { encoding: 'float32', seed: 0 }).bytes, manifest).flat)).toEqual(Array.from(d));
});
