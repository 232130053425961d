import { MaxPool, backend_util, type MaxPoolAttrs } from '@tensorflow/tfjs';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/** 2-D max pooling, NHWC, vectorised over channels. */
export const maxPoolConfig = fedlinkKernel(MaxPool, ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolAttrs;
  if (!nonEmptyF32(x) || x!.shape.length !== 4) return undefined;
  const c = backend_util.computePool2DInfo(
    x!.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode,
  );
  if (c.outHeight <= 0 || c.outWidth <= 0) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const out = backend.allocF32(c.outShape);
  backend.runtime.exports.maxpool_forward(
    xPtr, out.ptr, c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left,
  );
  return out.info;
});
