import * as tf from '@tensorflow/tfjs';
import {
  type ImageDataset,
  type ModelName,
  type EvalResult,
  createModel,
  evaluate,
  getFlatWeights,
  modelJson,
  modelTopology,
  setFlatWeights,
  weightManifest,
  weightsBin,
  countParams,
} from '@fedlink/ml';
import { type TensorSpec, encodeTensors } from '@fedlink/protocol';

/**
 * The run's global model: architecture, manifest and current flat weights. Holds one tfjs model
 * for evaluation and for exporting tfjs artifacts.
 */
export class GlobalModel {
  readonly manifest: TensorSpec[];
  readonly topology: Record<string, unknown>;
  readonly numParams: number;
  private flat: Float32Array;
  private encoded: Uint8Array | undefined;
  private readonly model: tf.LayersModel;

  constructor(
    readonly name: ModelName,
    seed: number,
    numClasses = 10,
    inputShape: [number, number, number] = [28, 28, 1],
  ) {
    this.model = createModel(name, { seed, numClasses, inputShape });
    this.manifest = weightManifest(this.model);
    this.topology = modelTopology(this.model);
    this.numParams = countParams(this.manifest);
    this.flat = getFlatWeights(this.model);
  }

  get weights(): Float32Array {
    return this.flat;
  }

  set weights(next: Float32Array) {
    if (next.length !== this.numParams) throw new RangeError(`model has ${this.numParams} parameters, got ${next.length}`);
    this.flat = next;
    this.encoded = undefined;
    setFlatWeights(this.model, next);
  }

  /** The weights in the tensor codec (float32), encoded once per version and shared by all sends. */
  encodedWeights(): Uint8Array {
    return (this.encoded ??= encodeTensors(this.manifest, this.flat, 'float32'));
  }

  async evaluate(data: ImageDataset): Promise<EvalResult> {
    return evaluate(this.model, data);
  }

  /** tfjs artifacts: model.json (weights referenced at `weightsPath`) and weights.bin. */
  artifacts(weightsPath = 'weights.bin'): { modelJson: object; weightsBin: Uint8Array } {
    return { modelJson: modelJson(this.topology, this.manifest, weightsPath), weightsBin: weightsBin(this.flat) };
  }

  dispose(): void {
    this.model.dispose();
  }
}
