/**
 * `@fedlink/ml/node`: the Node-only half of backend selection: how each backend starts in Node.
 * Registers the `native` backend (C++ addon) when it built, the `fedlink` backend with worker threads, and loads tfjs-node (an optional peer
 * dependency) when it is installed. Which ones are tried, in what order, is backend-select's.
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo, BackendName, InitBackendOptions } from '../backend-select.js';
import { BackendFedlink, FEDLINK_BACKEND } from '../fast/backend.js';
import { nodeThreadSpawner } from '../fast/node-threads.js';
import { describeFedlink, registerFedlinkBackend as registerWith } from '../fast/register.js';
import { adapterLabel, startWebgpu } from './webgpu.js';
import { NATIVE_BACKEND } from './native/backend.js';
import { describeNative, registerNativeBackend } from './native/register.js';

export { adapterLabel, describeAdapter, probeWebgpuAdapter, type WebgpuAdapterDescription } from './webgpu.js';
export { findSwiftShaderIcd, hasGpuDeviceNode, isDawnInstalled } from './vulkan-icd.js';

export { BackendFedlink, FEDLINK_BACKEND } from '../fast/backend.js';
export { FEDLINK_KERNELS } from '../fast/register.js';
export { Tune } from '../fast/wasm-kernels.js';
export { kernelCallCounts, type KernelCounts } from '../fast/kernels/kernel-util.js';
export { BackendNative, NATIVE_BACKEND } from './native/backend.js';
export { NATIVE_KERNELS } from './native/kernels.js';
export { registerNativeBackend, describeNative, type NativeRegistration } from './native/register.js';

/** Threads for fedlink's kernels: FEDLINK_THREADS, else every core (at most 8). */
export function defaultKernelThreads(): number {
  const env = Number(process.env.FEDLINK_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.min(8, Math.max(1, availableParallelism()));
}

/** Registers `fedlink` with worker_threads; false if it was registered already or wasm lacks SIMD/threads. */
export function registerFedlinkBackend(options: InitBackendOptions = {}): boolean {
  return registerWith({ threads: options.threads ?? defaultKernelThreads(), spawner: nodeThreadSpawner });
}

async function trySet(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** tfjs-node registers 'tensorflow' when imported; it is not a dependency, so it may be absent. */
async function loadTfjsNode(): Promise<boolean> {
  if (tf.findBackendFactory('tensorflow') != null) return true;
  for (const name of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      await import(name);
      return true;
    } catch {
      // not installed (or its native library failed to load): try the next
    }
  }
  return false;
}

/** Why a backend did not start, by name (the last attempt's reason). */
export const backendRefusals = new Map<BackendName, string>();

/** Starts one backend and makes it current; undefined if it can't run here. */
export async function startNodeBackend(name: BackendName, options: InitBackendOptions = {}): Promise<BackendInfo | undefined> {
  switch (name) {
    case 'webgpu': {
      const started = await startWebgpu(options.hardwareGpuOnly === true);
      if ('refused' in started) {
        backendRefusals.set('webgpu', started.refused);
        return undefined;
      }
      return { name: 'webgpu', detail: `WebGPU on ${adapterLabel(started.adapter)} (Dawn, the webgpu package)` };
    }
    case 'native': {
      const r = registerNativeBackend(options.threads ?? defaultKernelThreads());
      if (!r.registered) {
        backendRefusals.set('native', r.reason);
        return undefined;
      }
      if (!(await trySet(NATIVE_BACKEND))) return undefined;
      return { name: NATIVE_BACKEND, detail: describeNative(r.addon) };
    }
    case 'tensorflow':
      if (!(await loadTfjsNode()) || !(await trySet('tensorflow'))) return undefined;
      return { name: 'tensorflow', detail: 'tfjs-node (libtensorflow, native)' };
    case 'fedlink': {
      registerFedlinkBackend(options);
      if (tf.findBackendFactory(FEDLINK_BACKEND) == null || !(await trySet(FEDLINK_BACKEND))) return undefined;
      const backend = tf.backend();
      const detail = backend instanceof BackendFedlink ? describeFedlink(backend) : 'fedlink';
      return { name: FEDLINK_BACKEND, detail };
    }
    case 'wasm':
      try {
        await import('@tensorflow/tfjs-backend-wasm');
      } catch {
        return undefined;
      }
      if (!(await trySet('wasm'))) return undefined;
      return { name: 'wasm', detail: 'tfjs-backend-wasm (stock kernels, single thread in Node)' };
    case 'cpu':
      if (!(await trySet('cpu'))) return undefined;
      return { name: 'cpu', detail: 'tfjs cpu (plain JavaScript)' };
    default:
      return undefined; // webgl needs a browser
  }
}
