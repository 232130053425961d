/**
 * The `native` backend: tfjs's cpu backend whose hot kernels (GEMM, convolutions and their
 * gradients, max-pool) run in fedlink's C++ addon (@fedlink/native, AVX2/FMA where the CPU has
 * it). Tensor values stay ordinary JS typed arrays, which the addon reads and writes in place,
 * so every inherited cpu kernel keeps working on them unchanged.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { NativeKernels } from '@fedlink/native';

export const NATIVE_BACKEND = 'native';

export class BackendNative extends MathBackendCPU {
  constructor(readonly addon: NativeKernels) {
    super();
    // MathBackendCPU prints an "install tfjs-node" banner on first write; library code must not print.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** A float32 tensor's values, or undefined if they are not held as a Float32Array. */
  f32(t: TensorInfo): Float32Array | undefined {
    const values = this.data.get(t.dataId)?.values;
    return values instanceof Float32Array ? values : undefined;
  }

  /** A new float32 tensor of `shape` and the array the kernel fills. */
  output(shape: number[]): { info: TensorInfo; values: Float32Array } {
    let n = 1;
    for (const d of shape) n *= d;
    const values = new Float32Array(n);
    return { info: this.makeTensorInfo(shape, 'float32', values), values };
  }
}
