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

export function fedlinkKernel(kernelName: string, fast: FastPath): KernelConfig {
  let cpu: KernelFunc | undefined;
  const kernelFunc: KernelFunc = (args) => {
    const out = fast({ inputs: args.inputs, backend: args.backend as BackendFedlink, attrs: args.attrs ?? {} });
    if (out !== undefined) return out;
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
