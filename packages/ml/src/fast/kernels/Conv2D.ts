import { Conv2D, type Conv2DAttrs } from '@tensorflow/tfjs';
import { convDims, forwardConvInfo } from './conv-util.js';
import { fedlinkKernel } from './kernel-util.js';

/** y = conv2d(x, filter), NHWC: im2col chunks times the filter on the wasm GEMM. */
export const conv2DConfig = fedlinkKernel(Conv2D, ({ inputs, backend, attrs }) => {
  const { x, filter } = inputs;
  const info = forwardConvInfo(x, filter, attrs as unknown as Conv2DAttrs);
  if (!info) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.outShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_forward(xPtr, wPtr, out.ptr, 0, 0, ...dims, ws, wsBytes),
  );
  return out.info;
});
