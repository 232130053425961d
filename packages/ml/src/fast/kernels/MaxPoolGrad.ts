import { MaxPoolGrad, type MaxPoolGradAttrs } from '@tensorflow/tfjs';
import { maxPoolInfo, poolDims } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/** Routes each dy value to the first maximum of its window in x (tfjs cpu semantics). */
export const maxPoolGradConfig = fedlinkKernel(MaxPoolGrad, ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  const c = maxPoolInfo(input, attrs as unknown as MaxPoolGradAttrs);
  if (!c || !nonEmptyF32(dy)) return undefined;
  const dyPtr = backend.f32Ptr(dy!);
  const xPtr = backend.f32Ptr(input!);
  const out = backend.allocF32(input!.shape);
  const d = poolDims(c);
  backend.runtime.exports.maxpool_backward(dyPtr, xPtr, out.ptr, d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!, d[8]!, d[9]!, d[10]!, d[11]!);
  return out.info;
});
