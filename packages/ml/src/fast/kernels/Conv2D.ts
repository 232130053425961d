import { Conv2D, backend_util, type Conv2DAttrs } from '@tensorflow/tfjs';
import { convDims } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/** y = conv2d(x, filter), NHWC: im2col chunks times the filter on the wasm GEMM. */
export const conv2DConfig = fedlinkKernel(Conv2D, ({ inputs, backend, attrs }) => {
  const { x, filter } = inputs;
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as Conv2DAttrs;
  if (!nonEmptyF32(x, filter) || x!.shape.length !== 4 || dataFormat === 'NCHW') return undefined;
  const info = backend_util.computeConv2DInfo(
    x!.shape as [number, number, number, number],
    filter!.shape as [number, number, number, number],
    strides, dilations, pad, dimRoundingMode, false, 'channelsLast',
  );
  if (info.outHeight <= 0 || info.outWidth <= 0) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.outShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_forward(xPtr, wPtr, out.ptr, 0, 0, ...dims, ws, wsBytes),
  );
  return out.info;
});
