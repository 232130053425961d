import { modelFromTopology } from '@fedlink/ml';
import type { InputSpec } from './data/types.js';

export interface RunModel {
  name: string;
  numParams: number;
  spec: InputSpec;
}

interface ModelJson {
  modelTopology?: Record<string, unknown>;
  weightsManifest?: { weights: { shape: number[] }[] }[];
}

/**
 * The run's model, read before joining: the data must be brought to its input shape first,
 * because hello already declares how many examples this client has. The model is built from
 * the same topology the welcome carries, read, and disposed.
 */
export async function fetchRunModel(base: string): Promise<RunModel> {
  const res = await fetch(new URL('api/model', base).href, { cache: 'no-store' });
  if (!res.ok) throw new Error(`the coordinator did not describe its model (${res.status} ${res.statusText})`);
  const json = (await res.json()) as ModelJson;
  if (!json.modelTopology) throw new Error('the coordinator sent a model description without a topology');
  const model = await modelFromTopology(json.modelTopology);
  try {
    const input = model.inputs[0]!.shape;
    const output = model.outputs[0]!.shape;
    const [height, width, channels] = input.length === 4 ? input.slice(1) : [input[1], 1, 1];
    const numClasses = output[output.length - 1];
    if (![height, width, channels, numClasses].every((d) => typeof d === 'number' && d > 0)) {
      throw new Error(`the run's model has an input shape [${input.join(', ')}] this page can't feed`);
    }
    const numParams = (json.weightsManifest ?? []).flatMap((g) => g.weights).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    return { name: model.name, numParams, spec: { height: height!, width: width!, channels: channels!, numClasses: numClasses! } };
  } finally {
    model.dispose();
  }
}
