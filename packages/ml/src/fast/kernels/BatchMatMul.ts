import { BatchMatMul, type BatchMatMulAttrs } from '@tensorflow/tfjs';
import { fedlinkKernel, nonEmptyF32 } from './kernel-util.js';
import { planMatmul, runMatmul } from './matmul-util.js';

/** Batched matrix product with optional transposes (dense layers and their gradients). */
export const batchMatMulConfig = fedlinkKernel(BatchMatMul, ({ inputs, backend, attrs }) => {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if (!nonEmptyF32(a, b)) return undefined;
  const plan = planMatmul(a!, b!, transposeA, transposeB);
  if (!plan) return undefined;
  return runMatmul(backend, a!, b!, plan, transposeA, transposeB, 0, false);
});
