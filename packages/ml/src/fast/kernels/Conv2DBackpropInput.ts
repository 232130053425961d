import { Conv2DBackpropInput, type Conv2DBackpropInputAttrs } from '@tensorflow/tfjs';
import { convDims, inputGradConvInfo } from './conv-util.js';
import { fedlinkKernel } from './kernel-util.js';

/**
 * dx = gradient of conv2d w.r.t. its input: a stride-1 correlation of dy (read as if
 * dilated by the stride) with the filter flipped in space and its channel axes swapped.
 */
export const conv2DBackpropInputConfig = fedlinkKernel(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs;
  const info = inputGradConvInfo(dy, filter, attrs as unknown as Conv2DBackpropInputAttrs);
  if (!info) return undefined;
  const dyPtr = backend.f32Ptr(dy!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.inShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_backprop_input(dyPtr, wPtr, out.ptr, ...dims, ws, wsBytes),
  );
  return out.info;
});
