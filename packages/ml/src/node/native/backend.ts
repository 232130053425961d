/**
 * The `native` backend: the fedlink backend (tfjs cpu with tensor values in the wasm kernels'
 * shared memory, so its SIMD elementwise and reduction kernels run without copies), whose big
 * kernels (GEMM, convolutions and their gradients, max-pool) run in fedlink's C++ addon
 * (@fedlink/native, AVX2/FMA where the CPU has it) instead. The addon reads and writes the same
 * shared-memory views in place, so no op copies its operands.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { NativeKernels } from '@fedlink/native';
import { BackendFedlink } from '../../fast/backend.js';
import type { KernelRuntime } from '../../fast/runtime.js';
import { sizeOf } from '../../fast/kernels/kernel-util.js';

export const NATIVE_BACKEND = 'native';

export class BackendNative extends BackendFedlink {
  constructor(runtime: KernelRuntime, readonly addon: NativeKernels) {
    super(runtime);
  }

  /** A float32 tensor's values as a view into shared memory (copied in on first use). */
  f32(t: TensorInfo): Float32Array {
    return this.runtime.heap.f32(this.f32Ptr(t), sizeOf(t.shape));
  }

  /** A new float32 tensor of `shape` and the view the kernel fills. */
  output(shape: number[]): { info: TensorInfo; values: Float32Array } {
    const { info, ptr } = this.allocF32(shape);
    return { info, values: this.runtime.heap.f32(ptr, sizeOf(shape)) };
  }
}
