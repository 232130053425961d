import { FedlinkError } from './errors.js';
import { utf8 } from './bytes.js';

/**
 * Binary tensor codec. A model's weights (or a delta) travel as ONE little-endian buffer:
 *
 *   'FLT1' | u32 headerLength | header JSON (utf8) | zero pad to 4 | tensor data, each padded to 4
 *
 * The header is the manifest: tensor names, shapes and the element encoding. Tensors are kept in
 * one flat Float32Array in memory (the order of the manifest), which is what the math in
 * @fedlink/core works on.
 */

/**
 * Element encodings. Dense: float32, float16, int8 (symmetric, one scale per tensor). Compressed
 * (client deltas only; the math is @fedlink/core's `compression.ts`):
 * - sq8: 8-bit stochastic quantisation, one byte per entry, value lo + q * (hi - lo) / 255 with
 *   the tensor's lo and hi in the header;
 * - topk: sparse, the tensor's k kept entries as k u32 indices (strictly ascending) then k
 *   float32 values, k in the header; entries not sent are 0.
 */
export type TensorEncoding = 'float32' | 'float16' | 'int8' | 'sq8' | 'topk';
export const TENSOR_ENCODINGS: readonly TensorEncoding[] = ['float32', 'float16', 'int8', 'sq8', 'topk'];
/** The encodings `encodeTensors` writes from a dense vector alone. */
export type DenseEncoding = 'float32' | 'float16' | 'int8';
export const DENSE_ENCODINGS: readonly DenseEncoding[] = ['float32', 'float16', 'int8'];
/** Share of each tensor's entries a topk update keeps when a run names none. */
export const DEFAULT_TOPK_FRACTION = 0.01;

export interface TensorSpec {
  name: string;
  shape: number[];
}

export interface DecodedTensors {
  manifest: TensorSpec[];
  encoding: TensorEncoding;
  /** All tensors concatenated in manifest order. */
  flat: Float32Array;
}

// Typed-array views use host byte order; the wire is little-endian, so big-endian hosts take the slow path.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAGIC = 0x31544c46; // 'FLT1' read as little-endian u32
const MAX_HEADER_BYTES = 1 << 20;
const MAX_TENSORS = 4096;

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Prefix of the control-variate half of a SCAFFOLD update's manifest. */
export const CONTROL_PREFIX = 'control/';

/**
 * The manifest of a SCAFFOLD update, [delta y, delta c]: the model's tensors, then each again
 * named 'control/<name>' (2x the model's entries).
 */
export function controlManifest(manifest: readonly TensorSpec[]): TensorSpec[] {
  return [...manifest, ...manifest.map((t) => ({ name: `${CONTROL_PREFIX}${t.name}`, shape: [...t.shape] }))];
}

export function manifestSize(manifest: readonly TensorSpec[]): number {
  return manifest.reduce((n, t) => n + numElements(t.shape), 0);
}

const align4 = (n: number): number => (n + 3) & ~3;
const bytesPerElement = (e: DenseEncoding | 'sq8'): number => (e === 'float32' ? 4 : e === 'float16' ? 2 : 1);
/** Data bytes of one tensor of n entries (k kept entries for topk), before padding. */
const dataBytes = (e: TensorEncoding, n: number, k: number): number => (e === 'topk' ? 8 * k : n * bytesPerElement(e));

/** Entries a topk update keeps of a tensor of n entries: ceil(fraction * n), at least 1 (core's `topKCount`). */
export function topkKept(n: number, fraction: number): number {
  return n === 0 ? 0 : Math.min(n, Math.max(1, Math.ceil(fraction * n)));
}

/**
 * Exact encoded size (an upper bound for the encodings with numbers in their header), so limits
 * (maxHttpBufferSize, payload caps) can be derived from the model. topk: at `topkFraction`.
 */
export function encodedSize(manifest: readonly TensorSpec[], encoding: TensorEncoding = 'float32', topkFraction = DEFAULT_TOPK_FRACTION): number {
  // The header with a 1 in each per-tensor number, then room for each number's widest form.
  const ones: HeaderExtra = encoding === 'int8' ? { scale: 1 } : encoding === 'sq8' ? { lo: 1, hi: 1 } : encoding === 'topk' ? { k: 1 } : {};
  const header = utf8(headerJson(manifest, encoding, manifest.map(() => ones)));
  // Per-tensor numbers in the header (int8 scale, sq8 lo and hi, topk k): allow for their widest form.
  const slack = manifest.length * (encoding === 'int8' ? 24 : encoding === 'sq8' ? 48 : encoding === 'topk' ? 16 : 0);
  const data = manifest.reduce((n, t) => {
    const size = numElements(t.shape);
    return n + align4(dataBytes(encoding, size, topkKept(size, topkFraction)));
  }, 0);
  return 8 + align4(header.length + slack) + data;
}

type HeaderExtra = { scale?: number; lo?: number; hi?: number; k?: number };

function headerJson(manifest: readonly TensorSpec[], encoding: TensorEncoding, extras: readonly HeaderExtra[]): string {
  return JSON.stringify({ encoding, tensors: manifest.map((t, i) => ({ name: t.name, shape: t.shape, ...extras[i] })) });
}

/** Header and data layout shared by every encoder: writes the header, returns the buffer and where each tensor's data starts. */
function layout(manifest: readonly TensorSpec[], encoding: TensorEncoding, extras: readonly HeaderExtra[], ks?: readonly number[]): { out: Uint8Array; starts: number[] } {
  const header = utf8(headerJson(manifest, encoding, extras));
  let pos = align4(8 + header.length);
  const starts: number[] = [];
  manifest.forEach((t, i) => {
    starts.push(pos);
    pos += align4(dataBytes(encoding, numElements(t.shape), ks?.[i] ?? 0));
  });
  const out = new Uint8Array(pos);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, header.length, true);
  out.set(header, 8);
  return { out, starts };
}

/** One tensor of an sq8 update: its range and one level (0..255) per entry. */
export interface Quantized8Tensor {
  lo: number;
  hi: number;
  levels: Uint8Array;
}

/** Encodes an sq8 update (levels and ranges computed by core's `stochasticQuantize8`, one per tensor). */
export function encodeQuantized8(manifest: readonly TensorSpec[], tensors: readonly Quantized8Tensor[]): Uint8Array {
  if (tensors.length !== manifest.length) throw new FedlinkError('shape_mismatch', `${tensors.length} quantised tensors for a manifest of ${manifest.length}`);
  manifest.forEach((t, i) => {
    const q = tensors[i]!;
    if (q.levels.length !== numElements(t.shape)) throw new FedlinkError('shape_mismatch', `tensor ${i} has ${q.levels.length} levels, its shape needs ${numElements(t.shape)}`);
    if (!validRange(q.lo, q.hi)) throw new FedlinkError('bad_request', `tensor ${i} has no valid sq8 range`);
  });
  const { out, starts } = layout(manifest, 'sq8', tensors.map(({ lo, hi }) => ({ lo, hi })));
  tensors.forEach((q, i) => out.set(q.levels, starts[i]!));
  return out;
}

/** One tensor of a topk update: the kept entries' indices (strictly ascending) and values. */
export interface SparseTensor {
  indices: Uint32Array;
  values: Float32Array;
}

/** Encodes a topk update (indices chosen by core's `topKIndices`, one entry per tensor). */
export function encodeSparse(manifest: readonly TensorSpec[], tensors: readonly SparseTensor[]): Uint8Array {
  if (tensors.length !== manifest.length) throw new FedlinkError('shape_mismatch', `${tensors.length} sparse tensors for a manifest of ${manifest.length}`);
  manifest.forEach((t, i) => {
    const s = tensors[i]!;
    if (s.values.length !== s.indices.length) throw new FedlinkError('shape_mismatch', `tensor ${i} has ${s.indices.length} indices and ${s.values.length} values`);
    const problem = sparseIndexProblem(s.indices, numElements(t.shape));
    if (problem) throw new FedlinkError('bad_request', `tensor ${i}: ${problem}`);
  });
  const ks = tensors.map((s) => s.indices.length);
  const { out, starts } = layout(manifest, 'topk', ks.map((k) => ({ k })), ks);
  const view = new DataView(out.buffer);
  tensors.forEach((s, i) => {
    const base = starts[i]!;
    const k = s.indices.length;
    for (let j = 0; j < k; j++) {
      view.setUint32(base + 4 * j, s.indices[j]!, true);
      view.setFloat32(base + 4 * (k + j), s.values[j]!, true);
    }
  });
  return out;
}

const validRange = (lo: unknown, hi: unknown): boolean => typeof lo === 'number' && typeof hi === 'number' && Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi;

function sparseIndexProblem(indices: ArrayLike<number>, n: number): string | undefined {
  let prev = -1;
  for (let j = 0; j < indices.length; j++) {
    const ix = indices[j]!;
    if (ix >= n) return `sparse index ${ix} is out of range (tensor has ${n} entries)`;
    if (ix <= prev) return `sparse indices are not strictly ascending at position ${j}`;
    prev = ix;
  }
  return undefined;
}

export function encodeTensors(manifest: readonly TensorSpec[], flat: Float32Array, encoding: DenseEncoding = 'float32'): Uint8Array {
  const total = manifestSize(manifest);
  if (flat.length !== total) {
    throw new FedlinkError('shape_mismatch', `tensor data has ${flat.length} elements, manifest needs ${total}`);
  }
  if ((encoding as TensorEncoding) === 'sq8' || (encoding as TensorEncoding) === 'topk') {
    throw new FedlinkError('unsupported', `${encoding} is written by encodeQuantized8 / encodeSparse from compressed tensors, not from a dense vector`);
  }
  const scales: number[] = [];
  if (encoding === 'int8') {
    let off = 0;
    for (const t of manifest) {
      const n = numElements(t.shape);
      let max = 0;
      for (let i = off; i < off + n; i++) max = Math.max(max, Math.abs(flat[i]!));
      scales.push(max > 0 ? max / 127 : 1);
      off += n;
    }
  }
  const { out, starts } = layout(manifest, encoding, encoding === 'int8' ? scales.map((scale) => ({ scale })) : manifest.map(() => ({})));
  const view = new DataView(out.buffer);

  let src = 0;
  manifest.forEach((t, ti) => {
    const n = numElements(t.shape);
    const pos = starts[ti]!;
    if (encoding === 'float32' && LITTLE_ENDIAN) {
      new Float32Array(out.buffer, pos, n).set(flat.subarray(src, src + n));
    } else if (encoding === 'float32') {
      for (let i = 0; i < n; i++) view.setFloat32(pos + 4 * i, flat[src + i]!, true);
    } else if (encoding === 'float16') {
      const dst = new Uint16Array(out.buffer, pos, n);
      for (let i = 0; i < n; i++) dst[i] = float32ToFloat16(flat[src + i]!);
    } else {
      const dst = new Int8Array(out.buffer, pos, n);
      const inv = 1 / scales[ti]!;
      for (let i = 0; i < n; i++) dst[i] = Math.max(-127, Math.min(127, Math.round(flat[src + i]! * inv)));
    }
    src += n;
  });
  return out;
}

interface HeaderTensor {
  name: string;
  shape: number[];
  scale?: number;
  lo?: number;
  hi?: number;
  k?: number;
}

function parseHeader(bytes: Uint8Array): { encoding: TensorEncoding; tensors: HeaderTensor[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new FedlinkError('bad_request', 'tensor header is not valid UTF-8 JSON');
  }
  const h = parsed as { encoding?: unknown; tensors?: unknown };
  if (typeof h !== 'object' || h === null || !TENSOR_ENCODINGS.includes(h.encoding as TensorEncoding)) {
    throw new FedlinkError('bad_request', 'tensor header has no valid encoding');
  }
  if (!Array.isArray(h.tensors) || h.tensors.length > MAX_TENSORS) {
    throw new FedlinkError('bad_request', 'tensor header has no valid tensor list');
  }
  const tensors = h.tensors.map((t: unknown, i: number): HeaderTensor => {
    const x = t as Partial<HeaderTensor>;
    const okShape =
      Array.isArray(x?.shape) && x.shape.length <= 8 && x.shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 31);
    if (typeof x?.name !== 'string' || x.name.length > 256 || !okShape) {
      throw new FedlinkError('bad_request', `tensor ${i} in header is malformed`);
    }
    if (h.encoding === 'int8' && !(typeof x.scale === 'number' && Number.isFinite(x.scale) && x.scale > 0)) {
      throw new FedlinkError('bad_request', `tensor ${i} has no valid int8 scale`);
    }
    if (h.encoding === 'sq8' && !validRange(x.lo, x.hi)) {
      throw new FedlinkError('bad_request', `tensor ${i} has no valid sq8 range (finite lo <= hi)`);
    }
    if (h.encoding === 'topk' && !(Number.isInteger(x.k) && x.k! >= 0 && x.k! <= numElements(x.shape!))) {
      throw new FedlinkError('bad_request', `tensor ${i} has no valid topk count (an integer from 0 to its size)`);
    }
    return x as HeaderTensor;
  });
  return { encoding: h.encoding as TensorEncoding, tensors };
}

export interface DecodeOptions {
  /**
   * Let `flat` share `bytes`' memory when it can (float32, little-endian host, 4-byte aligned
   * data): no copy. For a caller that owns `bytes` and won't reuse it (the coordinator's intake,
   * with a freshly decrypted plaintext); `flat` is a fresh array otherwise.
   */
  shareMemory?: boolean;
}

/**
 * Decodes and validates a tensor buffer. With `expected`, names and shapes must match exactly
 * (a `shape_mismatch` otherwise). Never trusts offsets or sizes from the wire.
 */
export function decodeTensors(bytes: Uint8Array, expected?: readonly TensorSpec[], options: DecodeOptions = {}): DecodedTensors {
  if (bytes.length < 8) throw new FedlinkError('bad_request', 'tensor buffer too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new FedlinkError('bad_request', 'tensor buffer has a bad magic number');
  const headerLength = view.getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.length) {
    throw new FedlinkError('bad_request', 'tensor header length out of bounds');
  }
  const { encoding, tensors } = parseHeader(bytes.subarray(8, 8 + headerLength));
  if (expected) assertManifest(tensors, expected);

  let need = align4(8 + headerLength);
  for (const t of tensors) need += align4(dataBytes(encoding, numElements(t.shape), t.k ?? 0));
  if (need !== bytes.length) {
    throw new FedlinkError('shape_mismatch', `tensor buffer is ${bytes.length} bytes, its manifest describes ${need}`);
  }

  const manifest = tensors.map(({ name, shape }) => ({ name, shape }));
  const dataStart = align4(8 + headerLength);
  // float32 tensors are whole multiples of 4 bytes: no padding between them, one contiguous run.
  if (options.shareMemory && encoding === 'float32' && LITTLE_ENDIAN && (bytes.byteOffset + dataStart) % 4 === 0) {
    return { manifest, encoding, flat: new Float32Array(bytes.buffer, bytes.byteOffset + dataStart, manifestSize(tensors)) };
  }
  const flat = new Float32Array(manifestSize(tensors));
  let pos = dataStart;
  let dst = 0;
  for (const t of tensors) {
    const n = numElements(t.shape);
    if (encoding === 'float32') {
      if ((bytes.byteOffset + pos) % 4 === 0 && LITTLE_ENDIAN) {
        flat.set(new Float32Array(bytes.buffer, bytes.byteOffset + pos, n), dst);
      } else {
        for (let i = 0; i < n; i++) flat[dst + i] = view.getFloat32(pos + 4 * i, true);
      }
    } else if (encoding === 'float16') {
      for (let i = 0; i < n; i++) flat[dst + i] = float16ToFloat32(view.getUint16(pos + 2 * i, true));
    } else if (encoding === 'int8') {
      const scale = t.scale!;
      for (let i = 0; i < n; i++) flat[dst + i] = view.getInt8(pos + i) * scale;
    } else if (encoding === 'sq8') {
      // lo + q * step, q in 0..255: the formula of core's dequantize8Level.
      const lo = t.lo!;
      const step = (t.hi! - lo) / 255;
      for (let i = 0; i < n; i++) flat[dst + i] = lo + bytes[pos + i]! * step;
    } else {
      const k = t.k!;
      let prev = -1;
      for (let j = 0; j < k; j++) {
        const ix = view.getUint32(pos + 4 * j, true);
        if (ix >= n) throw new FedlinkError('bad_request', `tensor ${t.name}: sparse index ${ix} is out of range (tensor has ${n} entries)`);
        if (ix <= prev) throw new FedlinkError('bad_request', `tensor ${t.name}: sparse indices are not strictly ascending at position ${j}`);
        prev = ix;
        flat[dst + ix] = view.getFloat32(pos + 4 * (k + j), true);
      }
    }
    pos += align4(dataBytes(encoding, n, t.k ?? 0));
    dst += n;
  }
  return { manifest, encoding, flat };
}

export function assertManifest(actual: readonly TensorSpec[], expected: readonly TensorSpec[]): void {
  if (actual.length !== expected.length) {
    throw new FedlinkError('shape_mismatch', `expected ${expected.length} tensors, got ${actual.length}`);
  }
  actual.forEach((t, i) => {
    const e = expected[i]!;
    if (t.name !== e.name || t.shape.length !== e.shape.length || t.shape.some((d, k) => d !== e.shape[k])) {
      throw new FedlinkError(
        'shape_mismatch',
        `tensor ${i} is ${t.name}[${t.shape.join(',')}], expected ${e.name}[${e.shape.join(',')}]`,
      );
    }
  });
}

// IEEE 754 half precision, round-to-nearest-even.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
