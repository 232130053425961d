/**
 * Registers the `native` backend when the addon loads: every tfjs cpu kernel under the new name
 * plus the C++ ones (NATIVE_KERNELS), which take over their ops.
 */
import { findBackendFactory, getKernel, getKernelsForBackend, registerBackend, registerKernel } from '@tensorflow/tfjs';
import { loadNative, nativeLoadError, type NativeKernels } from '@fedlink/native';
import { BackendNative, NATIVE_BACKEND } from './backend.js';
import { NATIVE_KERNELS } from './kernels.js';

export type NativeRegistration = { registered: true; addon: NativeKernels } | { registered: false; reason: string };

/** Registers `native` once per process with `threads` kernel threads; says why not when the addon is absent. */
export function registerNativeBackend(threads: number): NativeRegistration {
  const addon = loadNative();
  if (!addon) return { registered: false, reason: nativeLoadError() ?? 'addon not loadable' };
  addon.setThreads(threads);
  if (findBackendFactory(NATIVE_BACKEND) != null) return { registered: true, addon };
  const fast = new Set(NATIVE_KERNELS.map((k) => k.kernelName));
  for (const k of getKernelsForBackend('cpu')) {
    if (!fast.has(k.kernelName) && getKernel(k.kernelName, NATIVE_BACKEND) == null) registerKernel({ ...k, backendName: NATIVE_BACKEND });
  }
  for (const k of NATIVE_KERNELS) {
    if (getKernel(k.kernelName, NATIVE_BACKEND) == null) registerKernel(k);
  }
  registerBackend(NATIVE_BACKEND, () => new BackendNative(addon), 0);
  return { registered: true, addon };
}

export function describeNative(addon: NativeKernels): string {
  const t = addon.threads();
  return `native C++ kernels (${addon.isa()}, ${t} thread${t === 1 ? '' : 's'}; ${NATIVE_KERNELS.length} native ops + tfjs cpu ops)`;
}
