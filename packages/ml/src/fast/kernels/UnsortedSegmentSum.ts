import { UnsortedSegmentSum, type UnsortedSegmentSumAttrs } from '@tensorflow/tfjs';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/**
 * out[segmentIds[i]] += x[i] over the rows of x (the gradient of a gather: an embedding's
 * update). One pass over x, where tfjs cpu compares every id with every segment (O(N x
 * segments)), summing in float64 as tfjs cpu does, so the result is the same to the bit. Only 1-D int32 ids, one per row of x; ids outside [0, numSegments) are dropped,
 * as tfjs cpu drops them.
 */
export const unsortedSegmentSumConfig = fedlinkKernel(UnsortedSegmentSum, ({ inputs: { x, segmentIds }, backend, attrs }) => {
  if (!nonEmptyF32(x) || segmentIds === undefined || segmentIds.dtype !== 'int32' || segmentIds.shape.length !== 1 || x!.shape.length < 1 || x!.shape[0] !== segmentIds.shape[0]) return undefined;
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const rows = x!.shape[0]!;
  const width = sizeOf(x!.shape) / rows;
  const outShape = [numSegments, ...x!.shape.slice(1)];
  const out = backend.allocF32(outShape);
  const sum = new Float64Array(numSegments * width);
  const xs = backend.data.get(x!.dataId).values as Float32Array;
  const ids = backend.data.get(segmentIds.dataId).values as Int32Array;
  for (let i = 0; i < rows; i++) {
    const id = ids[i]!;
    if (!(id >= 0 && id < numSegments)) continue;
    const to = id * width;
    const from = i * width;
    for (let j = 0; j < width; j++) sum[to + j]! += xs[from + j]!;
  }
  backend.runtime.heap.f32(out.ptr, sum.length).set(sum);
  return out.info;
});
