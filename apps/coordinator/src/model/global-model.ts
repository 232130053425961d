import * as tf from '@tensorflow/tfjs';
import {
  type ImageDataset,
  type ModelName,
  type EvalResult,
  MODEL_NAMES,
  ZOO_VOCAB_SIZE,
  createModel,
  modelHash,
  evaluate,
  getFlatWeights,
  modelJson,
  modelTopology,
  setFlatWeights,
  weightManifest,
  weightsBin,
  countParams,
  modelFromTopology,
  ModelError,
  TABULAR_MODELS,
  tabularModelOptions,
} from '@fedlink/ml';
import { loadModelFile } from '@fedlink/ml/node';
import { type TabularStats, type TensorSpec, encodeTensors } from '@fedlink/protocol';

/** A run's model: a zoo name (MODEL_NAMES) or the path of a tfjs Layers model.json. */
export type ModelRef = string;

export function isZooModel(ref: ModelRef): ref is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(ref);
}

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
  /** modelHash of topology and manifest (sent in welcome); set by GlobalModel.load. */
  hash: string | undefined;
  private readonly model: tf.LayersModel;

  /**
   * A zoo model initialised from `seed`, or a model already built (from a model.json: its own
   * initial weights), which this object then owns. `topology`: the topology it was built from,
   * kept verbatim (what welcome sends and the hash covers); default: the model's own.
   */
  constructor(
    readonly name: string,
    source: number | tf.LayersModel,
    numClasses = 10,
    inputShape?: [number, number, number],
    topology?: Record<string, unknown>,
  ) {
    if (typeof source === 'number' && (!isZooModel(name) || TABULAR_MODELS.includes(name))) throw new RangeError(`'${name}' is not a zoo model (${MODEL_NAMES.join(', ')})`);
    this.model = typeof source === 'number' ? createModel(name as ModelName, { seed: source, numClasses, ...(inputShape ? { inputShape } : {}) }) : source;
    this.manifest = weightManifest(this.model);
    this.topology = topology ?? modelTopology(this.model);
    this.numParams = countParams(this.manifest);
    this.flat = getFlatWeights(this.model);
  }

  /**
   * The run's model from `--model`: a zoo name built from `seed`, or a model.json file (a ModelError
   * when unusable), with its hash. Tabular zoo models take their shapes from the run's statistics;
   * `zoo.inputShape` builds a text zoo model for the run's window length (model.json files keep their own).
   */
  static async load(ref: ModelRef, seed: number, tabular?: TabularStats, zoo: { inputShape?: [number, number, number] } = {}): Promise<GlobalModel> {
    let model: GlobalModel;
    if (isZooModel(ref) && TABULAR_MODELS.includes(ref)) {
      // tabular-mlp and recommender take their input width, classes, users and items from the run's statistics.
      if (!tabular) throw new ModelError(`${ref} is a tabular model: it needs csv data (--data csv:<file> --label <column>, or --stats)`);
      const o = tabularModelOptions(tabular);
      if (ref === 'recommender' && o.users === undefined) throw new ModelError('recommender: the features must be exactly two id columns, user then item (--features user:id,item:id)');
      if (ref === 'recommender' && tabular.task !== 'regression') throw new ModelError('recommender: predicts a rating; the task must be regression');
      model = new GlobalModel(ref, createModel(ref, { seed, ...o }));
    } else {
      const shape = zoo.inputShape && ref in ZOO_VOCAB_SIZE ? zoo.inputShape : undefined;
      model = isZooModel(ref) ? new GlobalModel(ref, seed, 10, shape) : new GlobalModel(ref, await loadModelFile(ref));
    }
    model.hash = await modelHash(model.topology, model.manifest);
    return model;
  }

  /**
   * The model a parent's welcome describes (an edge serving its parent's model downstream, a zoo
   * name or not): built from its topology, which is kept verbatim, so this model's hash is the
   * parent's. Its weights are placeholders until the parent's first round:start sets them.
   */
  static async fromTopology(name: string, topology: Record<string, unknown>): Promise<GlobalModel> {
    const model = new GlobalModel(name, await modelFromTopology(topology), 10, undefined, topology);
    model.hash = await modelHash(model.topology, model.manifest);
    return model;
  }

  /** The tfjs model itself (read-only use: shape checks). */
  get layers(): tf.LayersModel {
    return this.model;
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
