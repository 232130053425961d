import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

/** The coordinator evaluates on wasm (SIMD) when available, else the cpu backend. */
export async function ensureEvalBackend(): Promise<string> {
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
