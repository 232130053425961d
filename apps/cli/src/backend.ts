import * as tf from '@tensorflow/tfjs';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Picks the tfjs backend for local training: tfjs-node (libtensorflow) when installed, else
 * wasm, else the pure-JS cpu backend. Returns the backend name in use.
 */
export async function selectBackend(choice: BackendChoice): Promise<string> {
  const tryNode = async (): Promise<boolean> => {
    try {
      // Optional accelerator: not a dependency, used only when the user installed it.
      await import('@tensorflow/tfjs-node' as string);
      return await tf.setBackend('tensorflow');
    } catch {
      return false;
    }
  };
  const tryWasm = async (): Promise<boolean> => {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      return await tf.setBackend('wasm');
    } catch {
      return false;
    }
  };
  const ok =
    choice === 'tensorflow'
      ? await tryNode()
      : choice === 'wasm'
        ? await tryWasm()
        : choice === 'cpu'
          ? await tf.setBackend('cpu')
          : (await tryNode()) || (await tryWasm()) || (await tf.setBackend('cpu'));
  if (!ok) {
    throw new Error(
      choice === 'tensorflow'
        ? "backend 'tensorflow' needs @tensorflow/tfjs-node installed (npm install @tensorflow/tfjs-node)"
        : `backend '${choice}' could not be initialised`,
    );
  }
  await tf.ready();
  return tf.getBackend();
}
