/**
 * Geometry shared by the fedlink (wasm) and native convolution and pooling kernels: which inputs a
 * fast path takes, the tfjs Conv2DInfo / Pool2DInfo for them, and the integer arguments the
 * kernels take (conv2d.c and the native addon use the same order).
 */
import {
  backend_util,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type MaxPoolAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { ConvDims } from '../wasm-kernels.js';
import { nonEmptyF32, sizeOf } from './kernel-util.js';

type Shape4 = [number, number, number, number];

export function convDims(c: backend_util.Conv2DInfo): ConvDims {
  return [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    c.padInfo.top, c.padInfo.left,
  ];
}

/** batch, inH, inW, ch, outH, outW, fH, fW, strideH, strideW, padTop, padLeft. */
export function poolDims(c: backend_util.Conv2DInfo): number[] {
  return [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left,
  ];
}

/** Forward conv geometry (Conv2D, FusedConv2D), or undefined for what the fast kernels don't take (NCHW, empty, non-f32). */
export function forwardConvInfo(x: TensorInfo | undefined, filter: TensorInfo | undefined, attrs: Conv2DAttrs): backend_util.Conv2DInfo | undefined {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  if (!nonEmptyF32(x, filter) || x!.shape.length !== 4 || dataFormat === 'NCHW') return undefined;
  const info = backend_util.computeConv2DInfo(
    x!.shape as Shape4, filter!.shape as Shape4, strides, dilations, pad, dimRoundingMode, false, 'channelsLast',
  );
  return info.outHeight <= 0 || info.outWidth <= 0 ? undefined : info;
}

export function inputGradConvInfo(dy: TensorInfo | undefined, filter: TensorInfo | undefined, attrs: Conv2DBackpropInputAttrs): backend_util.Conv2DInfo | undefined {
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs;
  if (!nonEmptyF32(dy, filter) || dataFormat === 'NCHW' || inputShape.length !== 4) return undefined;
  return backend_util.computeConv2DInfo(inputShape, filter!.shape as Shape4, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
}

export function filterGradConvInfo(x: TensorInfo | undefined, dy: TensorInfo | undefined, attrs: Conv2DBackpropFilterAttrs): backend_util.Conv2DInfo | undefined {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (!nonEmptyF32(x, dy) || dataFormat === 'NCHW' || x!.shape.length !== 4) return undefined;
  return backend_util.computeConv2DInfo(x!.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
}

/** Max-pool geometry (MaxPool on x, MaxPoolGrad on its input), or undefined if the fast kernels don't take it. */
export function maxPoolInfo(x: TensorInfo | undefined, attrs: Pick<MaxPoolAttrs, 'filterSize' | 'strides' | 'pad' | 'dimRoundingMode'>): backend_util.Conv2DInfo | undefined {
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  if (!nonEmptyF32(x) || x!.shape.length !== 4) return undefined;
  const c = backend_util.computePool2DInfo(x!.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  return c.outHeight <= 0 || c.outWidth <= 0 ? undefined : c;
}

/** A bias the fused kernels take: float32, one value per output channel / column, along the last axis. */
export function isChannelBias(bias: TensorInfo, channels: number): boolean {
  return bias.dtype === 'float32' && sizeOf(bias.shape) === channels && bias.shape[bias.shape.length - 1] === channels;
}
