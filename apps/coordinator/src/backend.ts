import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@fedlink/ml';

/**
 * The backend the coordinator evaluates (and exports) on: the clients' automatic choice, falling
 * back down Node's order (@fedlink/ml) rather than failing; if nothing starts, tfjs's current one.
 * Evaluation runs between rounds, when clients are idle.
 */
export async function ensureEvalBackend(): Promise<string> {
  try {
    // No GPU backend: the coordinator reads weights synchronously, which WebGPU in Node can't.
    return (await initBackend('auto', { fallback: true, gpu: false })).name;
  } catch {
    return tf.getBackend();
  }
}
