/**
 * Elementwise binary ops on float32 for the broadcasts training uses: equal shapes, a
 * scalar on either side, or a vector along the last axes (a bias). Anything else falls
 * back to the cpu kernel.
 */
import { broadcast_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs';
import { Broadcast } from '../wasm-kernels.js';
import { fedlinkKernel, nonEmptyF32, sizeOf } from './kernel-util.js';

interface BinaryPlan {
  outShape: number[];
  mode: number;
  n: number;
  inner: number;
}

/** True if `s`, without leading 1s, equals the trailing dims of `out`. */
function isTrailingRow(s: readonly number[], out: readonly number[]): boolean {
  let i = 0;
  while (i < s.length && s[i] === 1) i++;
  const rest = s.slice(i);
  const tail = out.slice(out.length - rest.length);
  return rest.length <= out.length && rest.every((d, j) => d === tail[j]);
}

function planBinary(a: TensorInfo, b: TensorInfo): BinaryPlan | undefined {
  if (!nonEmptyF32(a, b)) return undefined;
  let outShape: number[];
  try {
    outShape = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
  } catch {
    return undefined;
  }
  const n = sizeOf(outShape);
  const sa = sizeOf(a.shape);
  const sb = sizeOf(b.shape);
  if (sa === n && sb === n) return { outShape, mode: Broadcast.none, n, inner: 1 };
  if (sa === n && sb === 1) return { outShape, mode: Broadcast.bScalar, n, inner: 1 };
  if (sb === n && sa === 1) return { outShape, mode: Broadcast.aScalar, n, inner: 1 };
  if (sa === n && isTrailingRow(b.shape, outShape)) return { outShape, mode: Broadcast.bRow, n, inner: sb };
  if (sb === n && isTrailingRow(a.shape, outShape)) return { outShape, mode: Broadcast.aRow, n, inner: sa };
  return undefined;
}

export function binaryKernel(kernelName: string, op: number): KernelConfig {
  return fedlinkKernel(kernelName, ({ inputs, backend }) => {
    const { a, b } = inputs;
    const plan = planBinary(a!, b!);
    if (!plan) return undefined;
    const aPtr = backend.f32Ptr(a!);
    const bPtr = backend.f32Ptr(b!);
    const out = backend.allocF32(plan.outShape);
    backend.runtime.exports.binary_op(op, plan.mode, aPtr, bPtr, out.ptr, plan.n, plan.inner);
    return out.info;
  });
}
