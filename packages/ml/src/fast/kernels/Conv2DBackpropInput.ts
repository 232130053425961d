import { Conv2DBackpropInput, backend_util, type Conv2DBackpropInputAttrs } from '@tensorflow/tfjs';
import { convDims } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';

/**
 * dx = gradient of conv2d w.r.t. its input: a stride-1 correlation of dy (read as if
 * dilated by the stride) with the filter flipped in space and its channel axes swapped.
 */
export const conv2DBackpropInputConfig = fedlinkKernel(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs;
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as Conv2DBackpropInputAttrs;
  if (!nonEmptyF32(dy, filter) || dataFormat === 'NCHW' || inputShape.length !== 4) return undefined;
  const info = backend_util.computeConv2DInfo(
    inputShape, filter!.shape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, 'channelsLast',
  );
  const dyPtr = backend.f32Ptr(dy!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.inShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_backprop_input(dyPtr, wPtr, out.ptr, ...dims, ws, wsBytes),
  );
  return out.info;
});
