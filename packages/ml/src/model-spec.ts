import * as tf from '@tensorflow/tfjs';
import type { WeightSpec } from './weights.js';

/** A model a run can't use, or that doesn't fit the data it is given (a bad model.json, a shape mismatch). */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}

/** JSON with object keys sorted at every level, so equal models serialise to the same bytes. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The identity of a model architecture: SHA-256 (hex) of its canonical topology JSON and weight
 * manifest. The coordinator sends it in `welcome`; a client recomputes it from what it received
 * and refuses a model whose hash differs (or differs from one it was told to expect).
 * WebCrypto: the same in Node and browsers.
 */
export async function modelHash(topology: Record<string, unknown>, manifest: readonly WeightSpec[]): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available');
  const bytes = new TextEncoder().encode(canonicalJson({ topology, manifest: manifest.map((w) => ({ name: w.name, shape: w.shape })) }));
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** What a classifier takes and gives: its input shape (without the batch axis) and its number of classes. */
export interface ModelSignature {
  inputShape: number[];
  outputUnits: number;
}

export function modelSignature(model: tf.LayersModel): ModelSignature {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; fedlink trains models with one of each`);
  }
  const input = model.inputs[0]!.shape.slice(1);
  const output = model.outputs[0]!.shape.slice(1);
  if (input.some((d) => d === null)) throw new ModelError(`the model's input shape [${input.join(', ')}] has an open dimension besides the batch`);
  if (output.length !== 1 || output[0] === null) throw new ModelError(`the model's output shape [${output.join(', ')}] is not one vector per example`);
  return { inputShape: input as number[], outputUnits: output[0]! };
}

/**
 * Checks that data of `shape` [h, w, c] with `numClasses` labels fits a classifier (or, with
 * `regression`, a model of one output unit); throws a ModelError saying what differs. Tabular
 * data ([1, 1, width]) fits any model whose input holds `width` values ([width] or [1, 1, width]).
 */
export function assertDataFits(
  model: tf.LayersModel,
  data: { height: number; width: number; channels: number; numClasses: number; targets?: unknown },
  what = 'the data',
): void {
  const { inputShape, outputUnits } = modelSignature(model);
  const dataShape = [data.height, data.width, data.channels];
  const tabular = data.height === 1 && data.width === 1 && inputShape.reduce((a, b) => a * b, 1) === data.channels;
  if (!tabular && (inputShape.length !== 3 || inputShape.some((d, i) => d !== dataShape[i]))) {
    throw new ModelError(`the model takes inputs of shape [${inputShape.join(', ')}], ${what} is [${dataShape.join(', ')}]`);
  }
  if (data.targets !== undefined) {
    if (outputUnits !== 1) throw new ModelError(`${what} is a regression target (one number per example), the model has ${outputUnits} outputs; a regression model has one linear output`);
    return;
  }
  if (outputUnits < data.numClasses) {
    throw new ModelError(`${what} has labels 0..${data.numClasses - 1}, outside the model's ${outputUnits} classes`);
  }
}

/** Whether a model is a regressor (one output unit, not a softmax/sigmoid) or a classifier. */
export function modelTask(model: tf.LayersModel): 'classification' | 'regression' {
  const { outputUnits } = modelSignature(model);
  const activation = model.layers[model.layers.length - 1]?.getConfig().activation;
  return outputUnits === 1 && activation !== 'softmax' && activation !== 'sigmoid' ? 'regression' : 'classification';
}

/** The model's output width and last activation (what `--task auto` reads). */
export function modelOutput(model: tf.LayersModel): { units: number; activation?: string } {
  const { outputUnits } = modelSignature(model);
  const activation = model.layers[model.layers.length - 1]?.getConfig().activation;
  return { units: outputUnits, ...(typeof activation === 'string' ? { activation } : {}) };
}
