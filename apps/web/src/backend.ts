import * as tf from '@tensorflow/tfjs';

/**
 * The browser's TensorFlow.js backend: the fastest that starts here. Kept free of page code so it
 * can move into @fedlink/ml beside the Node backends.
 */
export const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

export function isBrowserBackend(name: string | null | undefined): name is BrowserBackend {
  return (BROWSER_BACKENDS as readonly string[]).includes(name ?? '');
}

export interface BackendOptions {
  /** Try this one first (e.g. from ?backend=), then the usual order. */
  prefer?: BrowserBackend;
  /** URL prefix (ending in /) the wasm binaries are served from. */
  wasmPath: string;
}

/** Minimal view of WebGPU, whose types are not in TypeScript's DOM lib. */
interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

/** WebGPU, else WebGL, else wasm, else cpu. webgpu and wasm code is only fetched when tried. */
export async function initBrowserBackend(options: BackendOptions): Promise<BrowserBackend> {
  const order = options.prefer ? [options.prefer, ...BROWSER_BACKENDS.filter((b) => b !== options.prefer)] : BROWSER_BACKENDS;
  for (const name of order) {
    try {
      if (!(await register(name, options))) continue;
      if (await withDeadline(tf.setBackend(name), INIT_DEADLINE_MS)) {
        await tf.ready();
        return name;
      }
    } catch {
      /* this backend can't start here: try the next */
    }
  }
  throw new Error('no TensorFlow.js backend could start in this browser');
}

/** A backend that has not started by then never will (e.g. wasm threads blocked): try the next. */
const INIT_DEADLINE_MS = 20_000;

function withDeadline(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function register(name: BrowserBackend, options: BackendOptions): Promise<boolean> {
  switch (name) {
    case 'webgpu': {
      // An adapter, not just navigator.gpu: browsers expose the API where no GPU can be had.
      const gpu = (navigator as GpuNavigator).gpu;
      if (!gpu || !(await gpu.requestAdapter())) return false;
      await import('@tensorflow/tfjs-backend-webgpu');
      return true;
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(options.wasmPath);
      return true;
    }
    case 'webgl':
    case 'cpu':
      // Both ship with @tensorflow/tfjs.
      return true;
  }
}
