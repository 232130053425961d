import * as tf from '@tensorflow/tfjs';

/** Name and shape of one weight tensor, in the model's weight order (the wire manifest). */
export interface WeightSpec {
  name: string;
  shape: number[];
}

export function weightManifest(model: tf.LayersModel): WeightSpec[] {
  return model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
}

export function countParams(manifest: readonly WeightSpec[]): number {
  return manifest.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
}

/** All weights concatenated in manifest order. */
export function getFlatWeights(model: tf.LayersModel): Float32Array {
  const tensors = model.getWeights();
  const total = tensors.reduce((n, t) => n + t.size, 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const t of tensors) {
    flat.set(t.dataSync() as Float32Array, off);
    off += t.size;
  }
  return flat;
}

/**
 * All weights concatenated in manifest order, read asynchronously: works on every backend,
 * including WebGPU in Node, which has no synchronous read (tfjs reads through an OffscreenCanvas).
 */
export async function readFlatWeights(model: tf.LayersModel): Promise<Float32Array> {
  const tensors = model.getWeights();
  const total = tensors.reduce((n, t) => n + t.size, 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const t of tensors) {
    flat.set((await t.data()) as Float32Array, off);
    off += t.size;
  }
  return flat;
}

export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const manifest = weightManifest(model);
  const total = countParams(manifest);
  if (flat.length !== total) throw new RangeError(`model has ${total} parameters, got ${flat.length} values`);
  let off = 0;
  const tensors = manifest.map((w) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(flat.subarray(off, off + n), w.shape, 'float32');
    off += n;
    return t;
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}

/** The Keras-style topology JSON of a model (what `welcome` ships and model.json holds). */
export function modelTopology(model: tf.LayersModel): Record<string, unknown> {
  return model.toJSON(null, false) as Record<string, unknown>;
}

/**
 * A tfjs model artifact (model.json) for flat float32 weights stored as one weights.bin, in the
 * format tf.loadLayersModel reads.
 */
export function modelJson(topology: Record<string, unknown>, manifest: readonly WeightSpec[], weightsPath = 'weights.bin'): object {
  return {
    format: 'layers-model',
    generatedBy: 'fedlink',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: [weightsPath], weights: manifest.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
}

/** The weights.bin that goes with `modelJson`: float32 little-endian, manifest order. */
export function weightsBin(flat: Float32Array): Uint8Array {
  return new Uint8Array(flat.buffer.slice(flat.byteOffset, flat.byteOffset + flat.byteLength));
}

/** Builds a model from topology JSON (as received in `welcome`). */
export async function modelFromTopology(topology: Record<string, unknown>): Promise<tf.LayersModel> {
  return tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
}
