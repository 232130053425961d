import * as tf from '@tensorflow/tfjs';

export interface MatrixFactorizationConfig {
  users: number;
  items: number;
  /** Embedding width (latent factors) of each user and each item. */
  factors: number;
  /** Seeds the embedding initialiser. */
  seed: number;
  name?: string;
  inputShape?: number[];
}

/**
 * Matrix factorisation as one Keras-style layer: each example is a (user index, item index) pair
 * (any shape holding 2 values per example), the prediction is
 *   <p_u, q_i> + b_u + b_i + b
 * with user and item embeddings p, q and biases b_u, b_i, b (Koren et al. 2009). Registered with
 * tfjs's serialisation, so a topology holding it is rebuilt by modelFromJSON in Node and browsers.
 */
export class MatrixFactorization extends tf.layers.Layer {
  static readonly className = 'FedlinkMatrixFactorization';
  readonly users: number;
  readonly items: number;
  readonly factors: number;
  readonly seed: number;
  private userEmbedding: tf.LayerVariable | undefined;
  private itemEmbedding: tf.LayerVariable | undefined;
  private userBias: tf.LayerVariable | undefined;
  private itemBias: tf.LayerVariable | undefined;
  private bias: tf.LayerVariable | undefined;

  constructor(config: MatrixFactorizationConfig) {
    super(config);
    this.users = config.users;
    this.items = config.items;
    this.factors = config.factors;
    this.seed = config.seed;
  }

  override build(): void {
    const init = (k: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: this.seed * 10 + k });
    this.userEmbedding = this.addWeight('user_embedding', [this.users, this.factors], 'float32', init(1));
    this.itemEmbedding = this.addWeight('item_embedding', [this.items, this.factors], 'float32', init(2));
    this.userBias = this.addWeight('user_bias', [this.users], 'float32', tf.initializers.zeros());
    this.itemBias = this.addWeight('item_bias', [this.items], 'float32', tf.initializers.zeros());
    this.bias = this.addWeight('bias', [1], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const ids = tf.cast(tf.reshape(x, [-1, 2]), 'int32');
      const u = tf.reshape(tf.slice(ids, [0, 0], [-1, 1]), [-1]);
      const i = tf.reshape(tf.slice(ids, [0, 1], [-1, 1]), [-1]);
      const dot = tf.sum(tf.mul(tf.gather(this.userEmbedding!.read(), u), tf.gather(this.itemEmbedding!.read(), i)), 1);
      const biases = tf.add(tf.add(tf.gather(this.userBias!.read(), u), tf.gather(this.itemBias!.read(), i)), this.bias!.read());
      return tf.reshape(tf.add(dot, biases), [-1, 1]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), users: this.users, items: this.items, factors: this.factors, seed: this.seed };
  }
}

tf.serialization.registerClass(MatrixFactorization);
