/**
 * Choosing a tfjs backend: the one place that knows the choices, the order `auto` tries them in
 * on each platform, and where a choice that can't start falls back to. `initBackend` picks the
 * fastest one this platform offers, or the one asked for. Browser-safe: Node-only code
 * (worker_threads, tfjs-node) is reached only through a dynamic import of the `./node/index.js`
 * entry, made only when running in Node.
 */
import * as tf from '@tensorflow/tfjs';

export const BACKEND_CHOICES = ['auto', 'native', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu', 'fedlink'] as const;
/**
 * `native`: tfjs cpu plus fedlink's C++ kernels (@fedlink/native, Node only; the default when the addon built).
 * `fedlink`: tfjs cpu plus fedlink's multithreaded wasm SIMD kernels (Node default without the addon or tfjs-node).
 */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** A backend itself, not the choice to pick one. */
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** What Node can run, as `--backend` lists it. */
export const NODE_BACKEND_CHOICES = ['auto', 'webgpu', 'native', 'tensorflow', 'fedlink', 'wasm', 'cpu'] as const satisfies readonly BackendChoice[];
export type NodeBackendChoice = (typeof NODE_BACKEND_CHOICES)[number];

/** What a browser can run, fastest first: the order `auto` tries there. */
export const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const satisfies readonly BackendName[];
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];
export const BROWSER_BACKEND_CHOICES = ['auto', ...BROWSER_BACKENDS] as const satisfies readonly BackendChoice[];

type Platform = 'node' | 'browser';

/**
 * What `auto` tries, in order. Node: a hardware GPU, then fedlink's native kernels (when the addon
 * built), tfjs-node, fedlink's wasm kernels, cpu. Node leaves stock wasm out: its kernels lack the conv filter
 * gradient (Conv2DBackpropFilter), so it can't train the CNN. Node's `webgpu` (Dawn) is taken by
 * `auto` only on a hardware adapter, never a software one such as SwiftShader.
 */
const AUTO_ORDER: Record<Platform, readonly BackendName[]> = {
  node: ['webgpu', 'native', 'tensorflow', 'fedlink', 'cpu'],
  browser: BROWSER_BACKENDS,
};

/** With `fallback`, what is tried after the choice: everything the platform runs, fastest first. */
const FALLBACK_ORDER: Record<Platform, readonly BackendName[]> = {
  node: ['native', 'tensorflow', 'fedlink', 'wasm', 'cpu'],
  browser: BROWSER_BACKENDS,
};

const GPU_BACKENDS: ReadonlySet<BackendName> = new Set(['webgpu', 'webgl']);

/** A browser backend that has not started by then never will (e.g. wasm threads blocked). */
const BROWSER_INIT_DEADLINE_MS = 20_000;

export interface BackendInfo {
  /** tf.getBackend() after initialisation. */
  name: string;
  /** Human-readable description, e.g. 'wasm simd128, 2 threads (worker_threads), fedlink kernels'. */
  detail: string;
}

export interface InitBackendOptions {
  /** Kernel threads for `fedlink` (main thread included); default: all cores (Node), 1 (browser). */
  threads?: number;
  /**
   * When the choice can't start, go on down the platform's order (fastest first) instead of
   * rejecting: `auto` in Node then tries stock wasm too; a browser's preferred backend is
   * followed by webgpu, webgl, wasm, cpu. Rejects only if nothing starts.
   */
  fallback?: boolean;
  /** Browser: URL prefix (ending in /) the tfjs wasm binaries are served from. */
  wasmPath?: string;
  /**
   * Browser: loads @tensorflow/tfjs-backend-webgpu. This package does not depend on it; an app
   * that bundles it passes `() => import('@tensorflow/tfjs-backend-webgpu')`, fetched only when
   * webgpu is tried.
   */
  loadWebgpu?: () => Promise<unknown>;
  /** Node: take WebGPU only on a hardware adapter (set by `auto`; an explicit `webgpu` takes any adapter). */
  hardwareGpuOnly?: boolean;
  /** false: `auto` and fallbacks leave GPU backends out (a caller that reads tensors synchronously, e.g. the coordinator). */
  gpu?: boolean;
}

export function isBackendChoice(name: string): name is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(name);
}

export function isBrowserBackend(name: string | null | undefined): name is BrowserBackend {
  return (BROWSER_BACKENDS as readonly string[]).includes(name ?? '');
}

export function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && typeof process.versions === 'object' && process.versions.node != null;
}

/** The backends `initBackend` tries for `choice`, in order. */
export function backendOrder(choice: BackendChoice, platform: Platform, fallback = false): BackendName[] {
  const first = choice === 'auto' ? AUTO_ORDER[platform] : [choice];
  return [...new Set([...first, ...(fallback ? FALLBACK_ORDER[platform] : [])])];
}

interface NodeEntry {
  startNodeBackend(name: BackendName, options: InitBackendOptions): Promise<BackendInfo | undefined>;
  /** Why a backend did not start, when it says. */
  backendRefusals: ReadonlyMap<BackendName, string>;
}

/**
 * Initialises a backend and makes it current.
 * `auto` in Node: a hardware WebGPU adapter, else native (addon built), else tfjs-node if installed, else fedlink, else cpu.
 * `auto` in a browser: webgpu > webgl > wasm > cpu.
 * Rejects if an explicitly chosen backend cannot start (unless `fallback`).
 */
export async function initBackend(choice: BackendChoice = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  const node = isNodeRuntime();
  const order = backendOrder(choice, node ? 'node' : 'browser', options.fallback).filter((b) => options.gpu !== false || b === choice || !GPU_BACKENDS.has(b));
  if (node) {
    // A computed specifier keeps bundlers from pulling Node-only code into browser builds.
    const entry = './node/index.js';
    const { startNodeBackend, backendRefusals } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ entry)) as NodeEntry;
    for (const name of order) {
      const info = await startNodeBackend(name, { ...options, hardwareGpuOnly: options.hardwareGpuOnly ?? (choice === 'auto' && name === 'webgpu') });
      if (info) {
        await tf.ready();
        return info;
      }
    }
    const why = choice !== 'auto' ? backendRefusals.get(choice) : undefined;
    throw new Error(options.fallback ? 'no TensorFlow.js backend could start in Node' : `could not initialise tfjs backend '${choice}' in Node${why ? `: ${why}` : ''}`);
  }
  if (choice === 'tensorflow' && !options.fallback) throw new Error("backend 'tensorflow' (tfjs-node) is only available in Node");
  for (const name of order) {
    try {
      if ((await prepareBrowser(name, options)) && (await withDeadline(trySet(name), BROWSER_INIT_DEADLINE_MS))) {
        await tf.ready();
        return { name: tf.getBackend(), detail: BROWSER_DETAIL[name] };
      }
    } catch {
      /* this backend can't start here: try the next */
    }
  }
  throw new Error(options.fallback ? 'no TensorFlow.js backend could start in this browser' : `could not initialise tfjs backend '${choice}'`);
}

async function trySet(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

function withDeadline(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const BROWSER_DETAIL: Record<BackendName, string> = {
  webgpu: 'tfjs webgpu (GPU)',
  webgl: 'tfjs webgl (GPU)',
  wasm: 'tfjs-backend-wasm',
  cpu: 'tfjs cpu (plain JavaScript)',
  fedlink: 'fedlink wasm kernels on tfjs cpu',
  native: 'fedlink native C++ kernels on tfjs cpu',
  tensorflow: 'tfjs-node',
};

/** Minimal view of WebGPU, whose types are not in TypeScript's DOM lib. */
interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown> };
}

/** Registers a browser backend's factory; false if it can't run here. Code is fetched only when tried. */
async function prepareBrowser(name: BackendName, options: InitBackendOptions): Promise<boolean> {
  switch (name) {
    case 'webgpu': {
      // An adapter, not just navigator.gpu: browsers expose the API where no GPU can be had.
      const gpu = typeof navigator === 'undefined' ? undefined : (navigator as GpuNavigator).gpu;
      if (!gpu || !(await gpu.requestAdapter())) return false;
      if (tf.findBackendFactory('webgpu') == null) await options.loadWebgpu?.();
      return tf.findBackendFactory('webgpu') != null;
    }
    case 'wasm': {
      // A dependency of this package, so a literal import: bundlers split it into a chunk.
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (options.wasmPath !== undefined) wasm.setWasmPaths(options.wasmPath);
      return true;
    }
    case 'fedlink': {
      const { registerFedlinkBackend } = await import('./fast/register.js');
      registerFedlinkBackend({ threads: options.threads ?? 1 });
      return tf.findBackendFactory('fedlink') != null;
    }
    case 'tensorflow':
    case 'native':
      return false; // tfjs-node and the C++ addon: Node only
    case 'webgl':
    case 'cpu':
      return tf.findBackendFactory(name) != null; // both ship with @tensorflow/tfjs
  }
}
