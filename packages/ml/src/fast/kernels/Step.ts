import { Step, type StepAttrs } from '@tensorflow/tfjs';
import { UnaryOp } from '../wasm-kernels.js';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/** x > 0 ? 1 : alpha, NaN kept (the mask in relu's gradient). */
export const stepConfig = fedlinkKernel(Step, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const { alpha } = attrs as unknown as StepAttrs;
  if (!nonEmptyF32(x)) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const out = backend.allocF32(x!.shape);
  backend.runtime.exports.unary_op(UnaryOp.step, xPtr, out.ptr, sizeOf(x!.shape), alpha ?? 0);
  return out.info;
});
