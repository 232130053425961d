import { MaxPoolGrad, backend_util, type MaxPoolGradAttrs } from '@tensorflow/tfjs';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/** Routes each dy value to the first maximum of its window in x (tfjs cpu semantics). */
export const maxPoolGradConfig = fedlinkKernel(MaxPoolGrad, ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  if (!nonEmptyF32(dy, input) || input!.shape.length !== 4) return undefined;
  const c = backend_util.computePool2DInfo(
    input!.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode,
  );
  const dyPtr = backend.f32Ptr(dy!);
  const xPtr = backend.f32Ptr(input!);
  const out = backend.allocF32(input!.shape);
  backend.runtime.exports.maxpool_backward(
    dyPtr, xPtr, out.ptr, c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left,
  );
  return out.info;
});
