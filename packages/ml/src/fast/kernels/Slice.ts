import { Slice, SplitV, Unpack, backend_util, slice_util, util, type SliceAttrs, type SplitVAttrs, type TensorInfo, type UnpackAttrs } from '@tensorflow/tfjs';
import type { BackendFedlink } from '../backend.js';
import { copyBox, isBoxInside } from './box-copy.js';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/** The box of a float32 tensor as a new tensor in wasm memory (copied in contiguous runs). */
function sliceBox(backend: BackendFedlink, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.allocF32(size);
  const src = backend.data.get(x.dataId).values as Float32Array;
  copyBox(src, x.shape, begin, size, backend.runtime.heap.f32(out.ptr, sizeOf(size)));
  return out.info;
}

/** tf.slice on float32: the box copied in runs instead of element by element. */
export const sliceConfig = fedlinkKernel(Slice, ({ inputs: { x }, backend, attrs }) => {
  if (!nonEmptyF32(x)) return undefined;
  const { begin, size } = attrs as unknown as SliceAttrs;
  const [b, s] = slice_util.parseSliceParams(x as never, begin, size);
  if (!isBoxInside(x!.shape, b, s) || s.some((v) => v === 0)) return undefined;
  return sliceBox(backend, x!, b, s);
});

/** tf.split on float32 (an LSTM's four gates, a GRU's three): one run-wise copy per piece. */
export const splitVConfig = fedlinkKernel(SplitV, ({ inputs: { x }, backend, attrs }) => {
  if (!nonEmptyF32(x)) return undefined;
  const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
  const ax = util.parseAxisParam(axis, x!.shape)[0]!;
  const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, ax);
  if (sizes.some((v) => v === 0)) return undefined;
  const begin = new Array<number>(x!.shape.length).fill(0);
  return sizes.map((piece) => {
    const size = [...x!.shape];
    size[ax] = piece;
    const info = sliceBox(backend, x!, [...begin], size);
    begin[ax]! += piece;
    return info;
  });
});

/** tf.unstack on float32 (an RNN's input, one tensor per time step): each step a run-wise copy. */
export const unpackConfig = fedlinkKernel(Unpack, ({ inputs: { value }, backend, attrs }) => {
  if (!nonEmptyF32(value)) return undefined;
  const shape = value!.shape;
  const axis = ((attrs as unknown as UnpackAttrs).axis + shape.length) % shape.length;
  const outShape = shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(shape.length).fill(0);
  const size = [...shape];
  size[axis] = 1;
  const src = backend.data.get(value!.dataId).values as Float32Array;
  return Array.from({ length: shape[axis]! }, (_, i) => {
    begin[axis] = i;
    const out = backend.allocF32(outShape);
    copyBox(src, shape, begin, size, backend.runtime.heap.f32(out.ptr, sizeOf(outShape)));
    return out.info;
  });
});
