import { Sum, util, type SumAttrs } from '@tensorflow/tfjs';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/**
 * Sum over leading axes (bias gradients: all but the channel axis) or trailing axes, with
 * no transpose; other axis sets fall back.
 */
export const sumConfig = fedlinkKernel(Sum, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const { axis, keepDims } = attrs as unknown as SumAttrs;
  if (!nonEmptyF32(x)) return undefined;
  const shape = x!.shape;
  const axes = util.parseAxisParam(axis, shape).sort((p, q) => p - q);
  if (axes.length === 0) return undefined;
  const leading = axes.every((ax, i) => ax === i);
  const trailing = axes.every((ax, i) => ax === shape.length - axes.length + i);
  if (!leading && !trailing) return undefined;
  const reduced = new Set(axes);
  const outShape = keepDims ? shape.map((d, i) => (reduced.has(i) ? 1 : d)) : shape.filter((_, i) => !reduced.has(i));
  const kept = sizeOf(shape.filter((_, i) => !reduced.has(i)));
  const total = sizeOf(shape);
  const xPtr = backend.f32Ptr(x!);
  const out = backend.allocF32(outShape);
  const { exports } = backend.runtime;
  // When both hold (all axes reduced) either works; trailing gives one dot-like pass.
  if (trailing) exports.sum_trailing(xPtr, out.ptr, kept, total / kept);
  else exports.sum_leading(xPtr, out.ptr, total / kept, kept);
  return out.info;
});
