/** Shape logic shared by BatchMatMul and _FusedMatMul. */
import { broadcast_util, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendFedlink } from '../backend.js';
import { sizeOf } from './kernel-util.js';

export interface MatmulPlan {
  outShape: number[];
  batch: number;
  m: number;
  n: number;
  k: number;
  aBatchStride: number;
  bBatchStride: number;
}

/** The product's geometry, or undefined when the batch dims broadcast in a way the
 * wasm kernel does not do (it handles equal batches and a batch of 1 on either side). */
export function planMatmul(a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): MatmulPlan | undefined {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const m = transA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return undefined; // the cpu kernel reports the shape error
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return undefined;
  }
  const batch = sizeOf(outer);
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return undefined;
  return {
    outShape: [...outer, m, n],
    batch,
    m,
    n,
    k,
    aBatchStride: batchA === 1 ? 0 : m * k,
    bBatchStride: batchB === 1 ? 0 : k * n,
  };
}

export function runMatmul(
  backend: BackendFedlink,
  a: TensorInfo,
  b: TensorInfo,
  plan: MatmulPlan,
  transA: boolean,
  transB: boolean,
  biasPtr: number,
  relu: boolean,
): TensorInfo {
  const aPtr = backend.f32Ptr(a);
  const bPtr = backend.f32Ptr(b);
  const out = backend.allocF32(plan.outShape);
  const { exports } = backend.runtime;
  backend.runtime.withWorkspace((ws, wsBytes) =>
    exports.matmul(
      aPtr, bPtr, out.ptr, biasPtr, relu ? 1 : 0,
      plan.batch, plan.aBatchStride, plan.bBatchStride, plan.m, plan.n, plan.k,
      transA ? 1 : 0, transB ? 1 : 0, ws, wsBytes,
    ),
  );
  return out.info;
}
