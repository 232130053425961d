import { type BackendInfo, NODE_BACKEND_CHOICES, type NodeBackendChoice, initBackend } from '@fedlink/ml';

/** `--backend` values: what Node can run (@fedlink/ml decides what `auto` picks). */
export const BACKEND_CHOICES = NODE_BACKEND_CHOICES;
export type BackendChoice = NodeBackendChoice;

/**
 * Starts the tfjs backend for local training (`@fedlink/ml` initBackend) and returns what it
 * chose, for the caller to show; a backend that can't start is worded for the command line.
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
