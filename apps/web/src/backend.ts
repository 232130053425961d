import { type BrowserBackend, initBackend } from '@fedlink/ml';

/**
 * The page's TensorFlow.js backend: `prefer` (from ?backend=) if it starts, else the fastest that
 * does (@fedlink/ml's browser order: webgpu, webgl, wasm, cpu). The page bundles the webgpu
 * backend, fetched only when tried, and serves the wasm binaries under `wasmPath`.
 */
export async function initBrowserBackend(options: { prefer?: BrowserBackend; wasmPath: string }): Promise<string> {
  const info = await initBackend(options.prefer ?? 'auto', {
    fallback: true,
    wasmPath: options.wasmPath,
    loadWebgpu: () => import('@tensorflow/tfjs-backend-webgpu'),
  });
  return info.name;
}
