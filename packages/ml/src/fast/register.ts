/**
 * Registers the `fedlink` backend: every tfjs cpu kernel (copied under the new backend
 * name, they run unchanged on its data) plus the wasm kernels below, which take over
 * their ops. Platform-neutral: threads come from the spawner the caller passes.
 */
import { findBackendFactory, getKernel, getKernelsForBackend, registerBackend, registerKernel, type KernelConfig } from '@tensorflow/tfjs';
import { BackendFedlink, FEDLINK_BACKEND } from './backend.js';
import { KernelRuntime, type RuntimeOptions } from './runtime.js';
import { wasmFeaturesAvailable } from './wasm-kernels.js';
import { addConfig } from './kernels/Add.js';
import { batchMatMulConfig } from './kernels/BatchMatMul.js';
import { conv2DConfig } from './kernels/Conv2D.js';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput.js';
import { fusedMatMulConfig } from './kernels/_FusedMatMul.js';
import { fusedConv2DConfig } from './kernels/FusedConv2D.js';
import { maxPoolConfig } from './kernels/MaxPool.js';
import { maxPoolGradConfig } from './kernels/MaxPoolGrad.js';
import { multiplyConfig } from './kernels/Multiply.js';
import { realDivConfig } from './kernels/RealDiv.js';
import { reluConfig } from './kernels/Relu.js';
import { stepConfig } from './kernels/Step.js';
import { subConfig } from './kernels/Sub.js';
import { sumConfig } from './kernels/Sum.js';
import { sliceConfig, splitVConfig, unpackConfig } from './kernels/Slice.js';
import { unsortedSegmentSumConfig } from './kernels/UnsortedSegmentSum.js';

/** The kernels fedlink implements (in wasm; Slice, SplitV, Unpack and UnsortedSegmentSum in JS); all others are the cpu backend's. */
export const FEDLINK_KERNELS: readonly KernelConfig[] = [
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  maxPoolConfig,
  maxPoolGradConfig,
  addConfig,
  subConfig,
  multiplyConfig,
  realDivConfig,
  reluConfig,
  stepConfig,
  sumConfig,
  sliceConfig,
  splitVConfig,
  unpackConfig,
  unsortedSegmentSumConfig,
];

/** What the last created fedlink backend runs on (for BackendInfo.detail). */
export function describeFedlink(backend: BackendFedlink): string {
  const { threads, threadKind } = backend.runtime;
  const where = threads > 1 ? `${threads} threads (${threadKind})` : '1 thread';
  return `wasm simd128, ${where}, fedlink kernels (${FEDLINK_KERNELS.length} fedlink ops + tfjs cpu ops)`;
}

/**
 * Registers the backend once per process (later calls return false and change nothing).
 * Priority 0: tfjs never picks it by itself; callers choose it with setBackend/initBackend.
 */
export function registerFedlinkBackend(options: RuntimeOptions = {}): boolean {
  if (findBackendFactory(FEDLINK_BACKEND) != null) return false;
  if (!wasmFeaturesAvailable()) return false;
  const fast = new Set(FEDLINK_KERNELS.map((k) => k.kernelName));
  for (const k of getKernelsForBackend('cpu')) {
    if (!fast.has(k.kernelName) && getKernel(k.kernelName, FEDLINK_BACKEND) == null) {
      registerKernel({ ...k, backendName: FEDLINK_BACKEND });
    }
  }
  for (const k of FEDLINK_KERNELS) {
    if (getKernel(k.kernelName, FEDLINK_BACKEND) == null) registerKernel(k);
  }
  registerBackend(FEDLINK_BACKEND, async () => new BackendFedlink(await KernelRuntime.create(options)), 0);
  return true;
}
