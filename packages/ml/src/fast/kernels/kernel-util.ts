/**
 * Plumbing shared by the fedlink kernels: each kernel has a fast path that returns
 * undefined for inputs it does not handle (other dtypes, layouts, empty tensors...), and
 * then the stock cpu kernel runs instead, on the same backend.
 */
import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { FEDLINK_BACKEND, type BackendFedlink } from '../backend.js';

export interface FastArgs {
  inputs: NamedTensorInfoMap;
  backend: BackendFedlink;
  attrs: NamedAttrMap;
}
export type FastPath = (args: FastArgs) => TensorInfo | undefined;

export interface KernelCounts {
  /** Calls served by the wasm kernel. */
  fast: number;
  /** Calls handed to the cpu kernel (unsupported dtype, layout or broadcast). */
  fallback: number;
}
const counts = new Map<string, KernelCounts>();

/** How often each fedlink kernel took its wasm path, so tests can prove it ran. */
export function kernelCallCounts(): Record<string, KernelCounts> {
  const out: Record<string, KernelCounts> = {};
  for (const [name, c] of counts) out[name] = { ...c };
  return out;
}

export function fedlinkKernel(kernelName: string, fast: FastPath): KernelConfig {
  let cpu: KernelFunc | undefined;
  const count: KernelCounts = { fast: 0, fallback: 0 };
  counts.set(kernelName, count);
  const kernelFunc: KernelFunc = (args) => {
    const out = fast({ inputs: args.inputs, backend: args.backend as BackendFedlink, attrs: args.attrs ?? {} });
    if (out !== undefined) {
      count.fast++;
      return out;
    }
    count.fallback++;
    cpu ??= getKernel(kernelName, 'cpu')?.kernelFunc;
    if (!cpu) throw new Error(`fedlink: no cpu fallback for kernel ${kernelName}`);
    return cpu(args);
  };
  return { kernelName, backendName: FEDLINK_BACKEND, kernelFunc };
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** True if every tensor is float32 and non-empty: what the wasm kernels accept. */
export function nonEmptyF32(...ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t !== undefined && t.dtype === 'float32' && sizeOf(t.shape) > 0);
}
