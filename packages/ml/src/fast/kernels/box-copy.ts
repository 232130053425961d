/**
 * Copying a box (begin, size) out of a row-major array in contiguous runs: what Slice and
 * SplitV need, where tfjs cpu walks the box one element at a time through TensorBuffer
 * (about 100 ns an element: an LSTM's gate split was 90% of its step). Pure: typed arrays in,
 * typed arrays out.
 */

/** True when `begin`/`size` describe a box inside `shape` (same rank, non-negative, in range). */
export function isBoxInside(shape: readonly number[], begin: readonly number[], size: readonly number[]): boolean {
  if (begin.length !== shape.length || size.length !== shape.length) return false;
  for (let d = 0; d < shape.length; d++) {
    const b = begin[d]!;
    const s = size[d]!;
    if (!(Number.isInteger(b) && Number.isInteger(s) && b >= 0 && s >= 0 && b + s <= shape[d]!)) return false;
  }
  return true;
}

/**
 * Writes the box of `src` (shape `shape`) that starts at `begin` and spans `size` into `out`
 * (row-major, `out.length` = the box's element count). The trailing dimensions the box spans
 * whole, and the one before them, form one contiguous run; the dimensions before that are
 * walked with an odometer.
 */
export function copyBox(src: Float32Array, shape: readonly number[], begin: readonly number[], size: readonly number[], out: Float32Array): void {
  const rank = shape.length;
  let count = 1;
  for (const s of size) count *= s;
  if (count === 0) return;
  const strides = new Array<number>(rank);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d]!;
  }
  // d: the outermost dimension of the contiguous run.
  let d = rank - 1;
  while (d > 0 && begin[d] === 0 && size[d] === shape[d]) d--;
  const run = rank === 0 ? 1 : size[d]! * strides[d]!;
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i]! * strides[i]!;
  if (d <= 0) {
    out.set(src.subarray(base, base + run));
    return;
  }
  const idx = new Array<number>(d).fill(0);
  let offset = base;
  for (let o = 0; o < count; o += run) {
    out.set(src.subarray(offset, offset + run), o);
    // Advance the odometer over dimensions d-1 .. 0.
    let k = d - 1;
    while (k >= 0) {
      idx[k]!++;
      offset += strides[k]!;
      if (idx[k]! < size[k]!) break;
      offset -= size[k]! * strides[k]!;
      idx[k] = 0;
      k--;
    }
  }
}
