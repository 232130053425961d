import { Relu } from '@tensorflow/tfjs';
import { UnaryOp } from '../wasm-kernels.js';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/** max(0, x), NaN kept. */
export const reluConfig = fedlinkKernel(Relu, ({ inputs, backend }) => {
  const { x } = inputs;
  if (!nonEmptyF32(x)) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const out = backend.allocF32(x!.shape);
  backend.runtime.exports.unary_op(UnaryOp.relu, xPtr, out.ptr, sizeOf(x!.shape), 0);
  return out.info;
});
