/**
 * Registers the `native` backend when the addon loads: every tfjs cpu kernel under the new name,
 * fedlink's wasm kernels over them (elementwise ops, reductions), and the C++ ones
 * (NATIVE_KERNELS) over those.
 */
import { findBackendFactory, getKernel, getKernelsForBackend, registerBackend, registerKernel } from '@tensorflow/tfjs';
import { loadNative, nativeLoadError, type NativeKernels } from '@fedlink/native';
import { FEDLINK_KERNELS } from '../../fast/register.js';
import { KernelRuntime } from '../../fast/runtime.js';
import { wasmFeaturesAvailable } from '../../fast/wasm-kernels.js';
import { BackendNative, NATIVE_BACKEND } from './backend.js';
import { NATIVE_KERNELS } from './kernels.js';

export type NativeRegistration = { registered: true; addon: NativeKernels } | { registered: false; reason: string };

/**
 * Registers `native` once per process, its C++ kernels on `threads` threads; says why not when the
 * addon is absent. The wasm kernels it borrows run on the calling thread only: they are the small
 * ops, and worker threads spinning after them would take cores from the C++ pool.
 */
export function registerNativeBackend(threads: number): NativeRegistration {
  const addon = loadNative();
  if (!addon) return { registered: false, reason: nativeLoadError() ?? 'addon not loadable' };
  if (!wasmFeaturesAvailable()) return { registered: false, reason: 'wasm SIMD/threads unavailable (the native backend keeps tensors in wasm shared memory)' };
  addon.setThreads(threads);
  if (findBackendFactory(NATIVE_BACKEND) != null) return { registered: true, addon };
  const native = new Set(NATIVE_KERNELS.map((k) => k.kernelName));
  const wasm = new Set(FEDLINK_KERNELS.map((k) => k.kernelName));
  for (const k of getKernelsForBackend('cpu')) {
    if (!native.has(k.kernelName) && !wasm.has(k.kernelName) && getKernel(k.kernelName, NATIVE_BACKEND) == null) registerKernel({ ...k, backendName: NATIVE_BACKEND });
  }
  for (const k of FEDLINK_KERNELS) {
    if (!native.has(k.kernelName) && getKernel(k.kernelName, NATIVE_BACKEND) == null) registerKernel({ ...k, backendName: NATIVE_BACKEND });
  }
  for (const k of NATIVE_KERNELS) {
    if (getKernel(k.kernelName, NATIVE_BACKEND) == null) registerKernel(k);
  }
  registerBackend(NATIVE_BACKEND, async () => new BackendNative(await KernelRuntime.create({ threads: 1 }), addon), 0);
  return { registered: true, addon };
}

export function describeNative(addon: NativeKernels): string {
  const t = addon.threads();
  return `native C++ kernels (${addon.isa()}, ${t} thread${t === 1 ? '' : 's'}; ${NATIVE_KERNELS.length} native ops + fedlink wasm elementwise + tfjs cpu ops)`;
}
