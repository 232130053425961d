import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../model-spec.js';

interface WeightGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** Size in bytes of one manifest entry's data. */
function entryBytes(e: tf.io.WeightsManifestEntry): number {
  const count = e.shape.reduce((a, b) => a * b, 1);
  const per = e.quantization ? (e.quantization.dtype === 'float16' || e.quantization.dtype === 'uint16' ? 2 : 1) : e.dtype === 'bool' ? 1 : 4;
  return count * per;
}

/**
 * A tfjs Layers model from a model.json file and the weight files its manifest names (what
 * tensorflowjs_converter writes for a Keras model, or `model.save('file://...')` in tfjs), read
 * with plain file IO: no tfjs-node. Anything missing or inconsistent is a ModelError naming the file.
 */
export async function loadModelFile(path: string): Promise<tf.LayersModel> {
  let json: { format?: string; modelTopology?: unknown; weightsManifest?: WeightGroup[] };
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as typeof json;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelError(code ? `${path}: cannot read the model file (${code})` : `${path}: not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new ModelError(`${path}: no modelTopology: not a tfjs Layers model.json`);
  }
  if (json.format !== undefined && json.format !== 'layers-model') throw new ModelError(`${path}: format '${json.format}' is not a Layers model (graph models can't be trained)`);
  const groups = json.weightsManifest ?? [];
  if (!Array.isArray(groups)) throw new ModelError(`${path}: weightsManifest is not a list`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of groups) {
    const expected = group.weights.reduce((n, e) => n + entryBytes(e), 0);
    const files = await Promise.all(
      group.paths.map(async (p) => {
        const file = resolve(dirname(path), p);
        try {
          return new Uint8Array(await readFile(file));
        } catch (e) {
          throw new ModelError(`${path}: weight file ${p} is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
        }
      }),
    );
    const got = files.reduce((n, f) => n + f.length, 0);
    if (got !== expected) throw new ModelError(`${path}: weight files ${group.paths.join(', ')} hold ${got} bytes, the manifest describes ${expected}`);
    specs.push(...group.weights);
    parts.push(...files);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const weightData = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    weightData.set(p, at);
    at += p.length;
  }
  const handler: tf.io.IOHandler = {
    load: async () => ({ modelTopology: json.modelTopology as tf.io.ModelJSON['modelTopology'], weightSpecs: specs, weightData: weightData.buffer }),
  };
  try {
    return await tf.loadLayersModel(handler);
  } catch (e) {
    throw new ModelError(`${path}: tfjs could not build the model: ${(e as Error).message}`);
  }
}
