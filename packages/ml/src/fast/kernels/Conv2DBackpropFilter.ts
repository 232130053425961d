import { Conv2DBackpropFilter, type Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs';
import { convDims, filterGradConvInfo } from './conv-util.js';
import { fedlinkKernel } from './kernel-util.js';

/**
 * dW = gradient of conv2d w.r.t. its filter: im2col(x)^T times dy, summed over all
 * output pixels (the kernel stock tfjs-backend-wasm lacks).
 */
export const conv2DBackpropFilterConfig = fedlinkKernel(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = filterGradConvInfo(x, dy, a);
  if (!info) return undefined;
  const xPtr = backend.f32Ptr(x!);
  const dyPtr = backend.f32Ptr(dy!);
  const out = backend.allocF32(a.filterShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_backprop_filter(xPtr, dyPtr, out.ptr, ...dims, ws, wsBytes),
  );
  return out.info;
});
