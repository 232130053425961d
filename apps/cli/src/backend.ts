import { initBackend, type BackendInfo } from '@fedlink/ml';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'fedlink', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Picks the tfjs backend for local training (`@fedlink/ml` initBackend): `auto` is tfjs-node
 * (libtensorflow) when installed, else fedlink (multithreaded wasm SIMD kernels), else the
 * pure-JS cpu backend. Returns what it chose, for the caller to show.
 */
export async function selectBackendInfo(choice: BackendChoice): Promise<BackendInfo> {
  try {
    return await initBackend(choice);
  } catch {
    throw new Error(
      choice === 'tensorflow'
        ? "backend 'tensorflow' needs @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node)"
        : `backend '${choice}' could not be initialised`,
    );
  }
}

/** selectBackendInfo, returning only the backend name. */
export async function selectBackend(choice: BackendChoice): Promise<string> {
  return (await selectBackendInfo(choice)).name;
}
