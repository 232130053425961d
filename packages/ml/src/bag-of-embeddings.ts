import * as tf from '@tensorflow/tfjs';

export interface BagOfEmbeddingsConfig {
  /** Token ids below this are embedded (the vocabulary's size at most). */
  inputDim: number;
  /** Embedding width. */
  outputDim: number;
  /** Seeds the uniform(-0.05, 0.05) initialiser. */
  seed: number;
  name?: string;
  inputShape?: number[];
}

/**
 * The mean of a window's token embeddings (fastText's bag of words, Joulin et al. 2017), as one
 * layer: ids [batch, seqLength] in, `mean_j E[id_j]` out ([batch, outputDim]), <pad> counted like
 * any id, exactly Embedding followed by GlobalAveragePooling1D. It computes it as
 * `bincount(ids) / seqLength` times E, so training's gradient for E is one matrix product: the
 * Embedding layer's gather gradient (UnsortedSegmentSum) costs one pass over the batch per
 * vocabulary id on tfjs's cpu kernels, seconds a batch for 2,000 ids. Registered with tfjs's
 * serialisation, so a topology holding it is rebuilt by modelFromJSON in Node and browsers.
 */
export class BagOfEmbeddings extends tf.layers.Layer {
  static readonly className = 'FedlinkBagOfEmbeddings';
  readonly inputDim: number;
  readonly outputDim: number;
  readonly seed: number;
  private embeddings: tf.LayerVariable | undefined;

  constructor(config: BagOfEmbeddingsConfig) {
    super(config);
    this.inputDim = config.inputDim;
    this.outputDim = config.outputDim;
    this.seed = config.seed;
  }

  override build(): void {
    this.embeddings = this.addWeight('embeddings', [this.inputDim, this.outputDim], 'float32', tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: this.seed }));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, this.outputDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const ids = tf.cast(tf.reshape(x, [x.shape[0] ?? -1, -1]), 'int32') as tf.Tensor2D;
      // No weights (an empty list): each id counts 1.
      const counts = tf.denseBincount(ids, [], this.inputDim);
      return tf.matMul(tf.div(counts, ids.shape[1]), this.embeddings!.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inputDim: this.inputDim, outputDim: this.outputDim, seed: this.seed };
  }
}

tf.serialization.registerClass(BagOfEmbeddings);
