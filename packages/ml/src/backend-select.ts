/**
 * Choosing a tfjs backend: `initBackend` picks the fastest one this platform offers, or the
 * one asked for. Browser-safe: Node-only code (worker_threads, tfjs-node) is reached only
 * through a dynamic import of the `./node/index.js` entry, made only when running in Node.
 */
import * as tf from '@tensorflow/tfjs';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu', 'fedlink'] as const;
/** `fedlink`: tfjs cpu plus fedlink's multithreaded wasm SIMD kernels (Node default without tfjs-node). */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tf.getBackend() after initialisation. */
  name: string;
  /** Human-readable description, e.g. 'wasm simd128, 2 threads (worker_threads), fedlink kernels'. */
  detail: string;
}

export interface InitBackendOptions {
  /** Kernel threads for `fedlink` (main thread included); default: all cores. */
  threads?: number;
}

export function isBackendChoice(name: string): name is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(name);
}

export function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && typeof process.versions === 'object' && process.versions.node != null;
}

interface NodeEntry {
  initNodeBackend(choice: BackendChoice, options: InitBackendOptions): Promise<BackendInfo>;
}

/**
 * Initialises a backend and makes it current.
 * `auto` in Node: tfjs-node if installed, else fedlink, else cpu.
 * `auto` in a browser: webgpu > webgl > wasm > cpu.
 * Rejects if an explicitly chosen backend cannot start.
 */
export async function initBackend(choice: BackendChoice = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (isNodeRuntime()) {
    // A computed specifier keeps bundlers from pulling Node-only code into browser builds.
    const entry = './node/index.js';
    const node = (await import(/* @vite-ignore */ /* webpackIgnore: true */ entry)) as NodeEntry;
    return node.initNodeBackend(choice, options);
  }
  return initBrowserBackend(choice);
}

/** Imports an optional backend package (not a dependency) by a computed name, so bundlers
 * leave it alone; it loads only where the app provides it. */
async function importOptional(name: string): Promise<boolean> {
  try {
    await import(/* @vite-ignore */ /* webpackIgnore: true */ name);
    return true;
  } catch {
    return false;
  }
}

async function trySet(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

const BROWSER_DETAIL: Record<string, string> = {
  webgpu: 'tfjs webgpu (GPU)',
  webgl: 'tfjs webgl (GPU)',
  wasm: 'tfjs-backend-wasm',
  cpu: 'tfjs cpu (plain JavaScript)',
  fedlink: 'fedlink wasm kernels on tfjs cpu',
};

async function prepareBrowser(name: string): Promise<boolean> {
  if (name === 'webgpu') return tf.findBackendFactory('webgpu') != null || importOptional('@tensorflow/tfjs-backend-webgpu');
  if (name === 'wasm') {
    if (tf.findBackendFactory('wasm') != null) return true;
    try {
      // A dependency of this package, so a literal import: bundlers split it into a chunk.
      await import('@tensorflow/tfjs-backend-wasm');
      return true;
    } catch {
      return false;
    }
  }
  if (name === 'fedlink') {
    const { registerFedlinkBackend } = await import('./fast/register.js');
    registerFedlinkBackend({ threads: 1 });
    return tf.findBackendFactory('fedlink') != null;
  }
  return tf.findBackendFactory(name) != null; // webgl and cpu ship with @tensorflow/tfjs
}

async function initBrowserBackend(choice: BackendChoice): Promise<BackendInfo> {
  if (choice === 'tensorflow') throw new Error("backend 'tensorflow' (tfjs-node) is only available in Node");
  const order = choice === 'auto' ? ['webgpu', 'webgl', 'wasm', 'cpu'] : [choice];
  for (const name of order) {
    if ((await prepareBrowser(name)) && (await trySet(name))) {
      await tf.ready();
      return { name: tf.getBackend(), detail: BROWSER_DETAIL[name] ?? name };
    }
  }
  throw new Error(`could not initialise tfjs backend '${choice}'`);
}
