/**
 * One SGD step of a stack of dense layers in one kernel, where the backend has it (native:
 * `FedlinkDenseSgdStep`, packages/native/src/dense_step.cc): forward, softmax cross-entropy,
 * both gradients and the update, instead of the ~40 kernels `optimizer.minimize` runs for the
 * 2NN. It takes models tfjs-layers would run as exactly that: a Sequential of optional
 * InputLayer/Flatten layers, then trainable Dense layers with biases, relu or linear
 * activations, the last one linear (logits), no regularisers or constraints, float32 weights.
 * Any other model, loss or optimizer setting goes through `optimizer.minimize` as before.
 */
import * as tf from '@tensorflow/tfjs';

export const DENSE_SGD_STEP_KERNEL = 'FedlinkDenseSgdStep';
/** c = -learning rate (as a float32); relu[l] is 1 where a relu follows layer l. */
export interface DenseSgdStepAttrs {
  c: number;
  relu: number[];
}

export interface DenseStack {
  layers: { kernel: tf.LayerVariable; bias: tf.LayerVariable; relu: boolean }[];
  /** Values per example the first layer takes (what Flatten makes of the input). */
  inputSize: number;
  classes: number;
}

const PASS_THROUGH = new Set(['InputLayer', 'Flatten']);

/** The model as a dense stack the fused step can train, or undefined when it isn't one. */
export function denseStackOf(model: tf.LayersModel): DenseStack | undefined {
  if (!(model instanceof tf.Sequential)) return undefined;
  const layers: DenseStack['layers'] = [];
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (PASS_THROUGH.has(kind) && layers.length === 0) continue;
    if (kind !== 'Dense' || !layer.trainable) return undefined;
    const config = layer.getConfig();
    if (config.activation !== 'relu' && config.activation !== 'linear') return undefined;
    if (config.useBias === false || config.kernelRegularizer || config.biasRegularizer || config.activityRegularizer || config.kernelConstraint || config.biasConstraint) return undefined;
    const [kernel, bias] = layer.trainableWeights;
    if (!kernel || !bias || layer.trainableWeights.length !== 2 || kernel.dtype !== 'float32' || bias.dtype !== 'float32' || kernel.shape.length !== 2) return undefined;
    layers.push({ kernel, bias, relu: config.activation === 'relu' });
  }
  const last = layers[layers.length - 1];
  if (!last || last.relu) return undefined;
  for (let l = 1; l < layers.length; l++) if (layers[l]!.kernel.shape[0] !== layers[l - 1]!.kernel.shape[1]) return undefined;
  const inputSize = layers[0]!.kernel.shape[0];
  const classes = last.kernel.shape[1];
  return typeof inputSize === 'number' && typeof classes === 'number' ? { layers, inputSize, classes } : undefined;
}

let checked: { backend: string; fused: boolean } | undefined;

/** Whether the current backend runs the fused dense step. */
export function hasDenseSgdStep(): boolean {
  const backend = tf.getBackend();
  if (checked?.backend !== backend) checked = { backend, fused: tf.getKernel(DENSE_SGD_STEP_KERNEL, backend) != null };
  return checked.fused;
}

/**
 * One SGD step at `learningRate` on softmax cross-entropy (the batch mean, as
 * tf.losses.softmaxCrossEntropy) of `xs` ([n, ...] with inputSize values an example) against
 * `ys` ([n, classes] float32 labels). Assigns the new weights; returns the loss before the step
 * and how many examples' logits peak where their labels do (kept tensors: the caller disposes).
 */
export function denseSgdStep(stack: DenseStack, xs: tf.Tensor, ys: tf.Tensor2D, learningRate: number): { loss: tf.Scalar; hits: tf.Scalar } {
  const n = xs.shape[0]!;
  return tf.tidy(() => {
    const inputs: tf.NamedTensorMap = { x: tf.reshape(xs, [n, stack.inputSize]), y: ys };
    stack.layers.forEach((l, i) => {
      inputs[`w${i}`] = l.kernel.read();
      inputs[`b${i}`] = l.bias.read();
    });
    // Math.fround: the value tfjs's scalar(-learningRate) holds (FusedSgdOptimizer's rounding).
    const attrs: DenseSgdStepAttrs = { c: Math.fround(-learningRate), relu: stack.layers.map((l) => (l.relu ? 1 : 0)) };
    const [loss, hits, ...weights] = tf.engine().runKernel(DENSE_SGD_STEP_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    stack.layers.forEach((l, i) => {
      (l.kernel.read() as tf.Variable).assign(weights[2 * i]!);
      (l.bias.read() as tf.Variable).assign(weights[2 * i + 1]!);
    });
    return { loss: tf.keep(loss as tf.Scalar), hits: tf.keep(hits as tf.Scalar) };
  });
}
