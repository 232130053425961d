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

export interface FastArgs<B = BackendFedlink> {
  inputs: NamedTensorInfoMap;
  backend: B;
  attrs: NamedAttrMap;
}
/** A kernel's fast path: its output(s), or undefined to hand the call to the cpu kernel. */
export type FastPath<B = BackendFedlink> = (args: FastArgs<B>) => TensorInfo | TensorInfo[] | undefined;

export interface KernelCounts {
  /** Calls served by the wasm kernel. */
  fast: number;
  /** Calls handed to the cpu kernel (unsupported dtype, layout or broadcast). */
  fallback: number;
}
/** backend name -> kernel name -> counts. */
const counts = new Map<string, Map<string, KernelCounts>>();

/** How often each kernel of a backend (default fedlink) took its fast path, so tests can prove it ran. */
export function kernelCallCounts(backendName: string = FEDLINK_BACKEND): Record<string, KernelCounts> {
  const out: Record<string, KernelCounts> = {};
  for (const [name, c] of counts.get(backendName) ?? []) out[name] = { ...c };
  return out;
}

export function fedlinkKernel(kernelName: string, fast: FastPath): KernelConfig {
  return fastKernel(FEDLINK_BACKEND, kernelName, fast);
}

/**
 * A kernel of a backend built on tfjs cpu (fedlink, native): its fast path, else the stock cpu
 * kernel on the same backend. `B` is the backend class the kernel is registered for.
 */
export function fastKernel<B>(backendName: string, kernelName: string, fast: FastPath<B>): KernelConfig {
  let cpu: KernelFunc | undefined;
  const count: KernelCounts = { fast: 0, fallback: 0 };
  if (!counts.has(backendName)) counts.set(backendName, new Map());
  counts.get(backendName)!.set(kernelName, count);
  const kernelFunc: KernelFunc = (args) => {
    const out = fast({ inputs: args.inputs, backend: args.backend as B, attrs: args.attrs ?? {} });
    if (out !== undefined) {
      count.fast++;
      return out;
    }
    count.fallback++;
    cpu ??= getKernel(kernelName, 'cpu')?.kernelFunc;
    if (!cpu) throw new Error(`${backendName}: no cpu fallback for kernel ${kernelName}`);
    return cpu(args);
  };
  return { kernelName, backendName, kernelFunc };
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
