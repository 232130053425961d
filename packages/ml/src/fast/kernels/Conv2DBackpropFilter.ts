import { Conv2DBackpropFilter, backend_util, type Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs';
import { convDims } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/**
 * dW = gradient of conv2d w.r.t. its filter: im2col(x)^T times dy, summed over all
 * output pixels (the kernel stock tfjs-backend-wasm lacks).
 */
export const conv2DBackpropFilterConfig = fedlinkKernel(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (!nonEmptyF32(x, dy) || dataFormat === 'NCHW' || x!.shape.length !== 4) return undefined;
  const info = backend_util.computeConv2DInfo(
    x!.shape as [number, number, number, number], filterShape,
    strides, 1, pad, dimRoundingMode, false, 'channelsLast',
  );
  const xPtr = backend.f32Ptr(x!);
  const dyPtr = backend.f32Ptr(dy!);
  const out = backend.allocF32(filterShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_backprop_filter(xPtr, dyPtr, out.ptr, ...dims, ws, wsBytes),
  );
  return out.info;
});
