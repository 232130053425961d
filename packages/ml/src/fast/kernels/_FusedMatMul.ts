import { _FusedMatMul, type _FusedMatMulAttrs } from '@tensorflow/tfjs';
import { isChannelBias } from './conv-util.js';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';
import { planMatmul, runMatmul } from './matmul-util.js';

/** matmul + per-column bias + linear/relu activation in one pass over the output. */
export const fusedMatMulConfig = fedlinkKernel(_FusedMatMul, ({ inputs, backend, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs;
  const { transposeA, transposeB, activation } = attrs as unknown as _FusedMatMulAttrs;
  if (!nonEmptyF32(a, b) || preluActivationWeights !== undefined) return undefined;
  if (activation !== 'linear' && activation !== 'relu') return undefined;
  const plan = planMatmul(a!, b!, transposeA, transposeB);
  if (!plan) return undefined;
  let biasPtr = 0;
  if (bias !== undefined) {
    // Only a bias along the last axis (the usual dense-layer bias).
    if (!isChannelBias(bias, plan.n)) return undefined;
    biasPtr = backend.f32Ptr(bias);
  }
  return runMatmul(backend, a!, b!, plan, transposeA, transposeB, biasPtr, activation === 'relu');
});
