import { FusedConv2D, backend_util, type FusedConv2DAttrs } from '@tensorflow/tfjs';
import { convDims } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

/**
 * conv2d + per-channel bias + linear/relu in one pass: what tfjs-layers runs for Conv2D at
 * inference (model.predict, evaluation). Other activations, prelu weights and NCHW fall back to
 * the cpu kernel.
 */
export const fusedConv2DConfig = fedlinkKernel(FusedConv2D, ({ inputs, backend, attrs }) => {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = attrs as unknown as FusedConv2DAttrs;
  if (!nonEmptyF32(x, filter) || x!.shape.length !== 4 || dataFormat === 'NCHW') return undefined;
  if (preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu')) return undefined;
  const info = backend_util.computeConv2DInfo(
    x!.shape as [number, number, number, number],
    filter!.shape as [number, number, number, number],
    strides, dilations, pad, dimRoundingMode, false, 'channelsLast',
  );
  if (info.outHeight <= 0 || info.outWidth <= 0) return undefined;
  let biasPtr = 0;
  if (bias !== undefined) {
    // Only a bias of one value per output channel (what Conv2D layers have).
    if (bias.dtype !== 'float32' || sizeOf(bias.shape) !== info.outChannels || bias.shape[bias.shape.length - 1] !== info.outChannels) return undefined;
    biasPtr = backend.f32Ptr(bias);
  }
  const xPtr = backend.f32Ptr(x!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.outShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_forward(xPtr, wPtr, out.ptr, biasPtr, activation === 'relu' ? 1 : 0, ...dims, ws, wsBytes),
  );
  return out.info;
});
