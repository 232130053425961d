import * as tf from '@tensorflow/tfjs';
import type { TrainConfig, TrainMetrics, Welcome } from '@fedlink/protocol';
import { type BatchProgress, DatasetError, type ImageDataset, assertDataFits, evaluate, modelFromTopology, readFlatWeights, setFlatWeights, trainLocal } from '@fedlink/ml';

export interface FitOutcome {
  /** local - global, in manifest order. */
  delta: Float32Array;
  numExamples: number;
  metrics: TrainMetrics;
  /** Local optimizer steps taken (K). SCAFFOLD needs it: a trainer that leaves it out can't take part in a SCAFFOLD run. */
  steps?: number;
  /**
   * An edge's trainer: the leaf clients behind `delta` (then their example-weighted mean) and
   * `numExamples` (their total). Absent: this client's own update.
   */
  contributors?: number;
}

export interface FitHooks {
  onBatch?: (p: BatchProgress) => void;
  shouldStop?: () => boolean;
  /**
   * SCAFFOLD: c - c_i (flat, manifest order), to add to every local gradient. A trainer that
   * can't must throw rather than ignore it.
   */
  correction?: Float32Array;
  /** The round being trained and its deadline (epoch ms), as round:start gave them. */
  round?: { round: number; attempt: number; deadline: number };
}

/**
 * What a client does with the global model in a round. The default trains with TensorFlow.js;
 * other trainers (a fixed-delta trainer in tests, a custom framework) plug in here.
 */
export interface Trainer {
  readonly numExamples: number;
  prepare(welcome: Welcome): Promise<void>;
  fit(global: Float32Array, config: TrainConfig, hooks?: FitHooks): Promise<FitOutcome>;
  dispose(): void;
}

/** Local training with TensorFlow.js on the client's own data. */
export class TfjsTrainer implements Trainer {
  private model: tf.LayersModel | undefined;

  /** `holdout`: this client's held-out examples; each round it evaluates the global model it received on them (federated evaluation). */
  constructor(
    private readonly data: ImageDataset,
    private readonly holdout?: ImageDataset,
  ) {
    if (holdout !== undefined && holdout.count === 0) throw new DatasetError("this client's held-out split is empty");
    if (data.count === 0) throw new DatasetError('no training examples: this client\'s data (or its shard) is empty');
  }

  get numExamples(): number {
    return this.data.count;
  }

  async prepare(welcome: Welcome): Promise<void> {
    this.model?.dispose();
    this.model = await modelFromTopology(welcome.model.topology);
    // Fail at join, not in every round: stock tfjs-backend-wasm has no conv filter gradient.
    const backend = tf.getBackend();
    const hasConv = this.model.layers.some((l) => l.getClassName() === 'Conv2D');
    if (hasConv && !tf.getKernel('Conv2DBackpropFilter', backend)) {
      throw new Error(
        `the ${backend} backend can't train ${welcome.model.name} (no Conv2DBackpropFilter kernel); use --backend auto or fedlink`,
      );
    }
    // A ModelError naming the mismatch: input shape, or labels beyond the model's classes.
    assertDataFits(this.model, this.data, "this client's data");
  }

  async fit(global: Float32Array, config: TrainConfig, hooks: FitHooks = {}): Promise<FitOutcome> {
    const model = this.model;
    if (!model) throw new Error('trainer used before prepare()');
    setFlatWeights(model, global);
    const ev = this.holdout ? await evaluate(model, this.holdout) : undefined;
    const r = await trainLocal(model, this.data, hooks.correction ? { ...config, correction: hooks.correction } : config, hooks);
    const local = await readFlatWeights(model);
    for (let i = 0; i < local.length; i++) local[i]! -= global[i]!;
    return {
      delta: local,
      numExamples: r.numExamples,
      steps: r.steps,
      metrics: {
        loss: r.loss,
        accuracy: r.accuracy,
        trainSeconds: r.seconds,
        samplesPerSecond: r.samplesPerSecond,
        ...(ev ? { evalLoss: ev.loss, evalAccuracy: ev.accuracy, evalExamples: ev.count } : {}),
      },
    };
  }

  dispose(): void {
    this.model?.dispose();
    this.model = undefined;
  }
}
