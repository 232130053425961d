import * as tf from '@tensorflow/tfjs';
import { createRng } from '@fedlink/core';
import { type ImageDataset, exampleSize, gatherBatch, shuffledOrder } from './dataset.js';
import { type FusedStack, fusedSgdStep, fusedStackOf, hasFusedSgdStep } from './fused-step.js';
import { sgdOptimizer } from './optimizer.js';

/** Settings of one round of local training (the wire's TrainConfig). */
export interface LocalTrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx: adds (mu / 2) * ||w - w_global||^2 to the loss; 0 disables it. */
  proximalMu: number;
  /** Seeds the batch order. */
  seed: number;
  /**
   * SCAFFOLD: the correction c - c_i, flat in manifest order (model.weights). Every step then
   * uses the corrected gradient g + c - c_i: after each SGD step the weights take
   * -= learningRate * (c - c_i). Left out: plain local SGD.
   */
  correction?: Float32Array;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
}

export interface LocalTrainResult {
  /** Mean training loss over the last epoch. */
  loss: number;
  /** Training accuracy over the last epoch (classification; absent for regression). */
  accuracy?: number;
  numExamples: number;
  /** Optimizer steps taken (K: batches times epochs). */
  steps: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainHooks {
  /** Called after every batch; reading the loss costs a device sync, so it is only read when set. */
  onBatch?: (p: BatchProgress) => void;
  /** Return true to stop early (e.g. the round's deadline passed). */
  shouldStop?: () => boolean;
}

// Event-loop breathing room: training blocks the JS thread, and socket.io heartbeats must run.
const YIELD_EVERY_MS = 50;
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

/**
 * Plain minibatch SGD on softmax cross-entropy (the FedAvg paper's local solver), optionally with
 * FedProx's proximal term. Deterministic for a given seed and backend. Every tensor it creates is
 * disposed before it returns.
 */
export async function trainLocal(model: tf.LayersModel, data: ImageDataset, config: LocalTrainConfig, hooks: TrainHooks = {}): Promise<LocalTrainResult> {
  if (data.count === 0) throw new RangeError('cannot train on an empty dataset');
  const rng = createRng(config.seed);
  const optimizer = sgdOptimizer(config.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const anchors = config.proximalMu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  const corrections = config.correction ? correctionSteps(model, config.correction, config.learningRate) : [];
  const mu = config.proximalMu;
  const shape = inputShapeOf(model, data);
  const regression = data.targets !== undefined;
  const depth = regression ? 1 : classesOf(model, data.numClasses);
  const toLogits = logitsOf(model);
  const batches = Math.ceil(data.count / config.batchSize);
  // Plain SGD on a sequential conv/pool/dense model (the 2NN, the CNN), on a backend with the fused step: one kernel per step.
  const fused = !regression && mu === 0 && hasFusedSgdStep() ? fusedStackOf(model) : undefined;
  const stack = fused && fused.inputSize === exampleSize(data) && fused.classes === depth ? fused : undefined;
  const started = performance.now();
  let lastYield = started;
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let processed = 0;
  let steps = 0;

  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const order = shuffledOrder(data.count, rng);
      lossSum = 0;
      correct = 0;
      seen = 0;
      for (let b = 0; b < batches; b++) {
        if (hooks.shouldStop?.()) throw new TrainingStopped();
        const start = b * config.batchSize;
        const end = Math.min(data.count, start + config.batchSize);
        const { x, y, t } = gatherBatch(data, order, start, end);
        const n = end - start;
        const [lossT, correctT] = stack ? fusedStep(stack, x, y, n, depth, config.learningRate) : tf.tidy(() => {
          const xs = tf.tensor(x, [n, ...shape]);
          // Regression: mean squared error against the (standardised) targets; else softmax cross-entropy.
          const ys = t ? tf.tensor2d(t, [n, 1]) : tf.oneHot(tf.tensor1d(y, 'int32'), depth);
          let hits: tf.Tensor | undefined;
          const cost = optimizer.minimize(
            () => {
              const out = model.apply(xs, { training: true }) as tf.Tensor;
              if (t) {
                hits = tf.keep(tf.scalar(0, 'int32'));
                let mse = tf.losses.meanSquaredError(ys, tf.reshape(out, [n, 1])) as tf.Scalar;
                if (mu > 0) mse = tf.add(mse, tf.mul(mu / 2, tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]!)))))));
                return mse;
              }
              const logits = toLogits(out);
              // Kept: minimize disposes everything inside except the cost.
              hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.argMax(ys, -1)), 'int32')));
              let loss = tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
              if (mu > 0) {
                const prox = tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]!)))));
                loss = tf.add(loss, tf.mul(mu / 2, prox));
              }
              return loss;
            },
            true,
            vars,
          )!;
          // SCAFFOLD: y <- y - lr (c - c_i) after the step y <- y - lr g (the tidy disposes the differences).
          corrections.forEach((step, i) => vars[i]!.assign(tf.sub(vars[i]!, step)));
          return [tf.keep(cost), hits!];
        });
        // SCAFFOLD on the fused path: the same correction after the step.
        if (stack) corrections.forEach((step, i) => tf.tidy(() => vars[i]!.assign(tf.sub(vars[i]!, step))));
        const [lossValue, hitValue] = await Promise.all([lossT.data(), correctT.data()]);
        tf.dispose([lossT, correctT]);
        lossSum += lossValue[0]! * n;
        correct += hitValue[0]!;
        seen += n;
        processed += n;
        steps++;
        hooks.onBatch?.({ epoch, batch: b, batches, loss: lossValue[0]! });
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
    }
  } finally {
    optimizer.dispose();
    tf.dispose(anchors);
    tf.dispose(corrections);
  }
  const seconds = (performance.now() - started) / 1000;
  return { loss: lossSum / seen, ...(regression ? {} : { accuracy: correct / seen }), numExamples: data.count, steps, seconds, samplesPerSecond: processed / seconds };
}

/** One fused SGD step (fused-step.ts) on a batch: float32 one-hot labels, then [loss, hits] as trainLocal's tidy returns them. */
function fusedStep(stack: FusedStack, x: Float32Array, labels: ArrayLike<number>, n: number, depth: number, learningRate: number): [tf.Tensor, tf.Tensor] {
  const oneHot = new Float32Array(n * depth);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    // tf.oneHot's rule: a label outside [0, depth) is a row of zeros.
    if (c >= 0 && c < depth) oneHot[i * depth + c] = 1;
  }
  const xs = tf.tensor2d(x, [n, stack.inputSize]);
  const ys = tf.tensor2d(oneHot, [n, depth]);
  try {
    const { loss, hits } = fusedSgdStep(stack, xs, ys, learningRate);
    return [loss, hits];
  } finally {
    tf.dispose([xs, ys]);
  }
}

/**
 * lr * (c - c_i) for each trainable weight, in `model.trainableWeights` order, cut from the flat
 * correction (manifest order: model.weights). Kept tensors: the caller disposes them.
 */
function correctionSteps(model: tf.LayersModel, correction: Float32Array, learningRate: number): tf.Tensor[] {
  const offsets = new Map<tf.LayerVariable, number>();
  let at = 0;
  for (const w of model.weights) {
    offsets.set(w, at);
    at += w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
  }
  if (correction.length !== at) throw new RangeError(`the SCAFFOLD correction has ${correction.length} entries, the model ${at}`);
  return model.trainableWeights.map((w) => {
    const start = offsets.get(w)!;
    const size = w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
    return tf.tidy(() => tf.keep(tf.mul(tf.tensor(correction.subarray(start, start + size), w.shape as number[]), learningRate)));
  });
}

/**
 * Zoo models output logits; a model from a model.json may end in a softmax (Keras classifiers
 * usually do). Its log-probabilities are logits of the same softmax (log p - log sum p, sum p = 1),
 * so one loss, softmax cross-entropy, serves both.
 */
function logitsOf(model: tf.LayersModel): (out: tf.Tensor) => tf.Tensor {
  const last = model.layers[model.layers.length - 1];
  const activation = last?.getConfig().activation;
  if (activation !== 'softmax') return (out) => out;
  return (out) => tf.log(tf.clipByValue(out, 1e-7, 1));
}

/**
 * The one-hot depth: the model's output width (a model may have more classes than a dataset
 * holds); `fallback` for a model whose output width is unknown.
 */
function classesOf(model: tf.LayersModel, fallback: number): number {
  const out = model.outputs[0]?.shape;
  const units = out ? out[out.length - 1] : null;
  if (typeof units === 'number' && units < fallback) throw new RangeError(`the data has ${fallback} classes, the model only ${units} outputs`);
  return typeof units === 'number' ? units : fallback;
}

export class TrainingStopped extends Error {
  override readonly name = 'TrainingStopped';
  constructor() {
    super('local training stopped before it finished');
  }
}

export interface EvalResult {
  /** Mean softmax cross-entropy (classification) or mean squared error on the standardised targets (regression). */
  loss: number;
  /** Classification: the share right. Absent for regression. */
  accuracy?: number;
  count: number;
  /** Regression: mean absolute and root-mean-square error, in the label's units (targetScale). */
  mae?: number;
  rmse?: number;
  /** Classification: per class (the model's outputs), examples and how many the model got right. */
  classCounts?: { total: number[]; correct: number[] };
}

/**
 * The input shape batches take: the model's own when it holds as many values per example as the
 * data (tabular rows are [1, 1, width], a tabular model may take [width]); else the data's [h, w, c].
 */
export function inputShapeOf(model: tf.LayersModel, data: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number[] {
  const own = model.inputs[0]?.shape.slice(1);
  if (own && own.every((d): d is number => typeof d === 'number') && own.reduce((a, b) => a * b, 1) === exampleSize(data)) return own;
  return [data.height, data.width, data.channels];
}

/** Loss and accuracy (classification, with per-class counts) or MAE and RMSE (regression) on a dataset, in batches, disposing as it goes. */
export async function evaluate(model: tf.LayersModel, data: ImageDataset, batchSize = 500): Promise<EvalResult> {
  const shape = inputShapeOf(model, data);
  const size = exampleSize(data);
  const targets = data.targets;
  if (targets) return evaluateRegression(model, data, targets, shape, batchSize);
  const depth = classesOf(model, data.numClasses);
  const toLogits = logitsOf(model);
  const total = new Array<number>(depth).fill(0);
  const right = new Array<number>(depth).fill(0);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(data.count, start + batchSize);
    const n = end - start;
    const [l, p] = tf.tidy(() => {
      const xs = tf.tensor(data.images.subarray(start * size, end * size), [n, ...shape]);
      const ys = tf.oneHot(tf.tensor1d(Int32Array.from(data.labels.subarray(start, end)), 'int32'), depth);
      const logits = toLogits(model.predict(xs) as tf.Tensor);
      const loss = tf.mul(tf.losses.softmaxCrossEntropy(ys, logits), n);
      return [loss, tf.argMax(logits, -1)];
    });
    const [lv, pv] = await Promise.all([l.data(), p.data()]);
    tf.dispose([l, p]);
    lossSum += lv[0]!;
    for (let k = 0; k < n; k++) {
      const label = data.labels[start + k]!;
      total[label]!++;
      if (pv[k] === label) {
        right[label]!++;
        correct++;
      }
    }
  }
  return {
    loss: data.count ? lossSum / data.count : NaN,
    accuracy: data.count ? correct / data.count : NaN,
    count: data.count,
    classCounts: { total, correct: right },
  };
}

async function evaluateRegression(model: tf.LayersModel, data: ImageDataset, targets: Float32Array, shape: number[], batchSize: number): Promise<EvalResult> {
  const size = exampleSize(data);
  const scale = data.targetScale ?? 1;
  let squared = 0;
  let absolute = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(data.count, start + batchSize);
    const n = end - start;
    const out = tf.tidy(() => tf.reshape(model.predict(tf.tensor(data.images.subarray(start * size, end * size), [n, ...shape])) as tf.Tensor, [n]));
    const pv = await out.data();
    out.dispose();
    for (let k = 0; k < n; k++) {
      const e = pv[k]! - targets[start + k]!;
      squared += e * e;
      absolute += Math.abs(e);
    }
  }
  if (data.count === 0) return { loss: NaN, count: 0 };
  const mse = squared / data.count;
  return { loss: mse, count: data.count, mae: (absolute / data.count) * scale, rmse: Math.sqrt(mse) * scale };
}
