import { FusedConv2D, type FusedConv2DAttrs } from '@tensorflow/tfjs';
import { convDims, forwardConvInfo, isChannelBias } from './conv-util.js';
import { fedlinkKernel } from './kernel-util.js';

/**
 * conv2d + per-channel bias + linear/relu in one pass: what tfjs-layers runs for Conv2D at
 * inference (model.predict, evaluation). Other activations, prelu weights and NCHW fall back to
 * the cpu kernel.
 */
export const fusedConv2DConfig = fedlinkKernel(FusedConv2D, ({ inputs, backend, attrs }) => {
  const { x, filter, bias, preluActivationWeights } = inputs;
  const a = attrs as unknown as FusedConv2DAttrs;
  if (preluActivationWeights !== undefined || (a.activation !== 'linear' && a.activation !== 'relu')) return undefined;
  const info = forwardConvInfo(x, filter, a);
  if (!info) return undefined;
  let biasPtr = 0;
  if (bias !== undefined) {
    if (!isChannelBias(bias, info.outChannels)) return undefined;
    biasPtr = backend.f32Ptr(bias);
  }
  const xPtr = backend.f32Ptr(x!);
  const wPtr = backend.f32Ptr(filter!);
  const out = backend.allocF32(info.outShape);
  const dims = convDims(info);
  backend.runtime.withWorkspace((ws, wsBytes) =>
    backend.runtime.exports.conv2d_forward(xPtr, wPtr, out.ptr, biasPtr, a.activation === 'relu' ? 1 : 0, ...dims, ws, wsBytes),
  );
  return out.info;
});
