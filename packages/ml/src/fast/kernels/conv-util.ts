/** Converts a tfjs Conv2DInfo into the integer arguments conv2d.c takes. */
import type { backend_util } from '@tensorflow/tfjs';
import type { ConvDims } from '../wasm-kernels.js';

export function convDims(c: backend_util.Conv2DInfo): ConvDims {
  return [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth,
    c.padInfo.top, c.padInfo.left,
  ];
}
