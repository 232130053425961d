import * as tf from '@tensorflow/tfjs';
import { BagOfEmbeddings } from './bag-of-embeddings.js';
import { MatrixFactorization } from './recommender.js';

/** The model zoo. Names are what users type after `--model`. */
export const MODEL_NAMES = ['mlp', 'cnn', 'cifar-cnn', 'char-lstm', 'char-lstm-leaf', 'text-classifier', 'tabular-mlp', 'recommender'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface ModelOptions {
  /** Seed for the initializers, so a run's initial global model is reproducible. */
  seed?: number;
  numClasses?: number;
  /** Input image shape [height, width, channels] (default 28x28x1; cifar-cnn 32x32x3; text models [80, 1, 1]). */
  inputShape?: [number, number, number];
  /** tabular-mlp: encoded row width (inputs [1, 1, width]); numClasses 1 is a regressor. */
  inputWidth?: number;
  /** recommender: how many users and items (the id columns' category counts). */
  users?: number;
  items?: number;
}

/** Token ids the zoo's text models embed and (char-lstm) predict: vocabularies up to this many tokens fit them. */
export const ZOO_VOCAB_SIZE = { 'char-lstm': 100, 'char-lstm-leaf': 100, 'text-classifier': 2000 } as const;
/** The window length the zoo's text models take (DEFAULT_SEQ_LENGTH of text.ts). */
export const ZOO_SEQ_LENGTH = 80;

function isTextModel(name: ModelName): name is keyof typeof ZOO_VOCAB_SIZE {
  return name in ZOO_VOCAB_SIZE;
}

/**
 * Text models take windows of token ids shaped [seqLength, 1, 1] (text.ts), reshaped to a
 * sequence and embedded:
 * - `char-lstm-leaf`: LEAF's Shakespeare model (Caldas et al. 2018): embedding 8, two LSTM layers
 *   of 256 units, logits over the vocabulary (100 ids) for the next character (823,172 parameters);
 * - `char-lstm`: the same with two LSTM layers of 64 units (59,012 parameters), the default because
 *   a 2-core machine trains it in minutes rather than hours;
 * - `text-classifier`: embedding 16 of 2,000 word ids, mean over the window, dense 10 logits
 *   (32,170 parameters), a fastText-style bag of embeddings (one BagOfEmbeddings layer: the same
 *   function as Embedding + GlobalAveragePooling1D, trained by a matrix product instead of
 *   tfjs's per-id gather gradient).
 */
function addTextLayers(model: tf.Sequential, name: keyof typeof ZOO_VOCAB_SIZE, inputShape: [number, number, number], kernelInitializer: () => ReturnType<typeof tf.initializers.glorotUniform>, seed: number): void {
  const [seqLength] = inputShape;
  const vocab = ZOO_VOCAB_SIZE[name];
  model.add(tf.layers.reshape({ name: 'tokens', inputShape, targetShape: [seqLength] }));
  if (name === 'text-classifier') {
    model.add(new BagOfEmbeddings({ name: 'embedding', inputDim: vocab, outputDim: 16, seed }));
    return;
  }
  const units = name === 'char-lstm-leaf' ? 256 : 64;
  model.add(tf.layers.embedding({ name: 'embedding', inputDim: vocab, outputDim: 8, embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }) }));
  model.add(tf.layers.lstm({ name: 'lstm1', units, returnSequences: true, kernelInitializer: kernelInitializer(), recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  model.add(tf.layers.lstm({ name: 'lstm2', units, kernelInitializer: kernelInitializer(), recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }));
}

/** Zoo models that need tabular data (csv): their input comes from the coordinator's statistics. */
export const TABULAR_MODELS: readonly ModelName[] = ['tabular-mlp', 'recommender'];

/**
 * The FedAvg paper's models (McMahan et al. 2017, section 3):
 * - `mlp`, the "2NN": two hidden layers of 200 ReLU units (199,210 parameters on MNIST);
 * - `cnn`: conv5x5x32 - maxpool2 - conv5x5x64 - maxpool2 - dense512 - dense10, 'same' padding
 *   (1,663,370 parameters on MNIST).
 * Both output logits (no softmax): the loss applies softmax itself, which is stabler.
 * Layers are named explicitly: tfjs's generated names carry a per-process counter, and weight
 * names form the wire manifest, which must be the same in every process.
 */
export function createModel(name: ModelName, options: ModelOptions = {}): tf.Sequential {
  const text = isTextModel(name);
  const { seed = 1, inputShape = name === 'cifar-cnn' ? [32, 32, 3] : text ? [ZOO_SEQ_LENGTH, 1, 1] : [28, 28, 1] } = options;
  // char-lstm predicts a token of its vocabulary: its output is the vocabulary's width.
  const numClasses = name === 'char-lstm' || name === 'char-lstm-leaf' ? ZOO_VOCAB_SIZE[name] : (options.numClasses ?? 10);
  // Each layer gets its own seed so layers are not initialised with the same stream.
  let layerSeed = seed * 1000;
  const kernelInitializer = () => tf.initializers.glorotUniform({ seed: layerSeed++ });

  const model = tf.sequential({ name });
  if (name === 'recommender') {
    // Matrix factorisation, 4 factors: (user, item) index pairs in, a (standardised) rating out.
    const { users, items } = options;
    if (!(users! >= 1 && items! >= 1)) throw new RangeError('recommender: needs the number of users and items (two id feature columns)');
    model.add(new MatrixFactorization({ name: 'mf', inputShape: [1, 1, 2], users: users!, items: items!, factors: 4, seed }));
    return model;
  }
  if (text) {
    addTextLayers(model, name, inputShape, kernelInitializer, seed * 1000 + 500);
  } else if (name === 'tabular-mlp') {
    // A tabular MLP: two hidden layers of 64 ReLU units over the encoded row; numClasses logits, or one linear output (regression).
    const width = options.inputWidth;
    if (!(width! >= 1)) throw new RangeError('tabular-mlp: needs the encoded row width (csv data)');
    model.add(tf.layers.flatten({ name: 'flatten', inputShape: [1, 1, width!] }));
    model.add(tf.layers.dense({ name: 'fc1', units: 64, activation: 'relu', kernelInitializer: kernelInitializer() }));
    model.add(tf.layers.dense({ name: 'fc2', units: 64, activation: 'relu', kernelInitializer: kernelInitializer() }));
  } else if (name === 'mlp') {
    model.add(tf.layers.flatten({ name: 'flatten', inputShape }));
    model.add(tf.layers.dense({ name: 'fc1', units: 200, activation: 'relu', kernelInitializer: kernelInitializer() }));
    model.add(tf.layers.dense({ name: 'fc2', units: 200, activation: 'relu', kernelInitializer: kernelInitializer() }));
  } else if (name === 'cifar-cnn') {
    // A CIFAR-style RGB CNN, narrower than the FedAvg paper's CIFAR model so a CPU trains it:
    // conv3x3x16 - pool2 - conv3x3x32 - pool2 - dense64 - logits (136,874 parameters at 32x32x3).
    model.add(tf.layers.conv2d({ name: 'conv1', inputShape, filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: kernelInitializer() }));
    model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
    model.add(tf.layers.conv2d({ name: 'conv2', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: kernelInitializer() }));
    model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
    model.add(tf.layers.flatten({ name: 'flatten' }));
    model.add(tf.layers.dense({ name: 'fc1', units: 64, activation: 'relu', kernelInitializer: kernelInitializer() }));
  } else {
    model.add(
      tf.layers.conv2d({
        name: 'conv1',
        inputShape,
        filters: 32,
        kernelSize: 5,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: kernelInitializer(),
      }),
    );
    model.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }));
    model.add(
      tf.layers.conv2d({ name: 'conv2', filters: 64, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: kernelInitializer() }),
    );
    model.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }));
    model.add(tf.layers.flatten({ name: 'flatten' }));
    model.add(tf.layers.dense({ name: 'fc1', units: 512, activation: 'relu', kernelInitializer: kernelInitializer() }));
  }
  model.add(tf.layers.dense({ name: 'logits', units: numClasses, kernelInitializer: kernelInitializer() }));
  return model;
}
