import { MaxPool, type MaxPoolAttrs } from '@tensorflow/tfjs';
import { maxPoolInfo, poolDims } from './conv-util.js';
import { fedlinkKernel } from './kernel-util.js';

/** 2-D max pooling, NHWC, vectorised over channels. */
export const maxPoolConfig = fedlinkKernel(MaxPool, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const c = maxPoolInfo(x, attrs as unknown as MaxPoolAttrs);
  if (!c) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const out = backend.allocF32(c.outShape);
  const d = poolDims(c);
  backend.runtime.exports.maxpool_forward(xPtr, out.ptr, d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!, d[8]!, d[9]!, d[10]!, d[11]!);
  return out.info;
});
