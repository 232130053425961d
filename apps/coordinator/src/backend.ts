import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '@fedlink/ml';

/**
 * The backend the coordinator evaluates (and exports) on: the same choice as clients make
 * (tfjs-node if installed, else fedlink's multithreaded wasm kernels), falling back to stock wasm
 * and then the cpu backend. Evaluation runs between rounds, when clients are idle.
 */
export async function ensureEvalBackend(): Promise<string> {
  try {
    return (await initBackend('auto')).name;
  } catch {
    for (const name of ['wasm', 'cpu']) {
      try {
        if (await tf.setBackend(name)) {
          await tf.ready();
          return name;
        }
      } catch {
        /* try the next */
      }
    }
    return tf.getBackend();
  }
}
