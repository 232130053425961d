/**
 * One SGD step of a sequential model in one kernel, where the backend has it (native:
 * `FedlinkSequentialSgdStep`, packages/native/src/sequential_step.cc): forward, softmax
 * cross-entropy, every layer's gradients and the update, instead of the one-kernel-per-op
 * `optimizer.minimize` (119 kernels a step for the CNN, about 40 for the 2NN). It takes models
 * tfjs-layers would run as exactly that: a Sequential of Conv2D (channels last, biases, relu or
 * linear), MaxPooling2D (channels last), Flatten and Dense (biases, relu or linear) layers,
 * the last a linear Dense (logits), all trainable with float32 weights and no regularisers,
 * constraints or dropout. Any other model, loss or optimizer setting goes through
 * `optimizer.minimize` as before.
 */
import * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';

export const SEQUENTIAL_SGD_STEP_KERNEL = 'FedlinkSequentialSgdStep';
/**
 * c = -learning rate (as a float32); layers: 32 integers a layer (kind 0 dense, 1 conv, 2
 * max-pool; relu; dense in and out widths; the 15 conv dims; the 12 pool dims; one unused),
 * with the batch size in the conv and pool dims.
 */
export interface SequentialSgdStepAttrs {
  c: number;
  layers: number[];
}

export const LAYER_CODE_SIZE = 32;

interface DenseLayer {
  kind: 'dense';
  relu: boolean;
  din: number;
  dout: number;
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable;
}
interface ConvLayer {
  kind: 'conv';
  relu: boolean;
  /** Conv dims for a batch of 1 (convDims order: batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft). */
  dims: number[];
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable;
}
interface PoolLayer {
  kind: 'pool';
  /** Pool dims for a batch of 1 (batch, inH, inW, ch, outH, outW, fH, fW, strideH, strideW, padTop, padLeft). */
  dims: number[];
}
export type FusedLayer = DenseLayer | ConvLayer | PoolLayer;

export interface FusedStack {
  layers: FusedLayer[];
  /** Values per example the first layer takes. */
  inputSize: number;
  classes: number;
}

const pair = (v: unknown): [number, number] | undefined => {
  const a = Array.isArray(v) ? v : [v, v];
  return a.length === 2 && a.every((x) => Number.isInteger(x) && x > 0) ? (a as [number, number]) : undefined;
};

/** Whether a layer's config has anything the fused step doesn't do (regularisers, constraints). */
function hasExtras(config: tf.serialization.ConfigDict): boolean {
  return !!(config.kernelRegularizer || config.biasRegularizer || config.activityRegularizer || config.kernelConstraint || config.biasConstraint);
}

/** The model as a stack the fused step can train, or undefined when it isn't one. */
export function fusedStackOf(model: tf.LayersModel): FusedStack | undefined {
  if (!(model instanceof tf.Sequential)) return undefined;
  const input = model.inputs[0]?.shape.slice(1);
  if (!input || !input.every((d): d is number => typeof d === 'number' && d > 0)) return undefined;
  let shape: number[] = input;
  const layers: FusedLayer[] = [];
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    const config = layer.getConfig();
    if (kind === 'InputLayer') continue;
    if (kind === 'Flatten') {
      shape = [shape.reduce((a, b) => a * b, 1)];
      continue;
    }
    if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return undefined;
    if (kind === 'MaxPooling2D') {
      const size = pair(config.poolSize);
      const strides = pair(config.strides ?? config.poolSize);
      if (shape.length !== 3 || !size || !strides || (config.padding !== 'same' && config.padding !== 'valid')) return undefined;
      const info = backend_util.computePool2DInfo([1, ...shape] as [number, number, number, number], size, strides, 1, config.padding);
      if (info.outHeight <= 0 || info.outWidth <= 0) return undefined;
      layers.push({ kind: 'pool', dims: [1, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left] });
      shape = [info.outHeight, info.outWidth, info.inChannels];
      continue;
    }
    if (kind !== 'Dense' && kind !== 'Conv2D') return undefined;
    if (!layer.trainable || hasExtras(config) || config.useBias === false) return undefined;
    if (config.activation !== 'relu' && config.activation !== 'linear') return undefined;
    const [kernel, bias] = layer.trainableWeights;
    if (!kernel || !bias || layer.trainableWeights.length !== 2 || kernel.dtype !== 'float32' || bias.dtype !== 'float32') return undefined;
    const relu = config.activation === 'relu';
    if (kind === 'Dense') {
      const [din, dout] = kernel.shape;
      if (shape.length !== 1 || din !== shape[0] || typeof dout !== 'number') return undefined;
      layers.push({ kind: 'dense', relu, din, dout, kernel, bias });
      shape = [dout];
      continue;
    }
    const size = pair(config.kernelSize);
    const strides = pair(config.strides ?? 1);
    const dilation = pair(config.dilationRate ?? 1);
    const [fh, fw, inC, outC] = kernel.shape as number[];
    if (shape.length !== 3 || !size || !strides || !dilation || (config.padding !== 'same' && config.padding !== 'valid') || inC !== shape[2] || fh !== size[0] || fw !== size[1]) return undefined;
    const info = backend_util.computeConv2DInfo([1, ...shape] as [number, number, number, number], [fh, fw, inC, outC!], strides, dilation, config.padding, undefined, false, 'channelsLast');
    if (info.outHeight <= 0 || info.outWidth <= 0) return undefined;
    layers.push({
      kind: 'conv', relu, kernel, bias,
      dims: [1, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left],
    });
    shape = [info.outHeight, info.outWidth, outC!];
  }
  const last = layers[layers.length - 1];
  if (!last || last.kind !== 'dense' || last.relu) return undefined;
  return { layers, inputSize: input.reduce((a, b) => a * b, 1), classes: last.dout };
}

/** The kernel's layer codes for a batch of `batch` (SequentialSgdStepAttrs.layers). */
export function layerCodes(stack: FusedStack, batch: number): number[] {
  const out: number[] = [];
  for (const l of stack.layers) {
    const code = new Array<number>(LAYER_CODE_SIZE).fill(0);
    code[0] = l.kind === 'dense' ? 0 : l.kind === 'conv' ? 1 : 2;
    code[1] = l.kind !== 'pool' && l.relu ? 1 : 0;
    if (l.kind === 'dense') (code[2] = l.din), (code[3] = l.dout);
    else if (l.kind === 'conv') code.splice(4, 15, batch, ...l.dims.slice(1));
    else code.splice(19, 12, batch, ...l.dims.slice(1));
    out.push(...code);
  }
  return out;
}

let checked: { backend: string; fused: boolean } | undefined;

/** Whether the current backend runs the fused step. */
export function hasFusedSgdStep(): boolean {
  const backend = tf.getBackend();
  if (checked?.backend !== backend) checked = { backend, fused: tf.getKernel(SEQUENTIAL_SGD_STEP_KERNEL, backend) != null };
  return checked.fused;
}

/**
 * One SGD step at `learningRate` on softmax cross-entropy (the batch mean, as
 * tf.losses.softmaxCrossEntropy) of `xs` ([n, ...], inputSize values an example, NHWC) against
 * `ys` ([n, classes] float32 labels). Assigns the new weights; returns the loss before the step
 * and how many examples' logits peak where their labels do (kept tensors: the caller disposes).
 */
export function fusedSgdStep(stack: FusedStack, xs: tf.Tensor, ys: tf.Tensor2D, learningRate: number): { loss: tf.Scalar; hits: tf.Scalar } {
  const n = xs.shape[0]!;
  const params = stack.layers.filter((l): l is DenseLayer | ConvLayer => l.kind !== 'pool');
  return tf.tidy(() => {
    const inputs: tf.NamedTensorMap = { x: tf.reshape(xs, [n, stack.inputSize]), y: ys };
    params.forEach((l, i) => {
      inputs[`w${i}`] = l.kernel.read();
      inputs[`b${i}`] = l.bias.read();
    });
    // Math.fround: the value tfjs's scalar(-learningRate) holds (FusedSgdOptimizer's rounding).
    const attrs: SequentialSgdStepAttrs = { c: Math.fround(-learningRate), layers: layerCodes(stack, n) };
    const [loss, hits, ...weights] = tf.engine().runKernel(SEQUENTIAL_SGD_STEP_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    params.forEach((l, i) => {
      (l.kernel.read() as tf.Variable).assign(weights[2 * i]!);
      (l.bias.read() as tf.Variable).assign(weights[2 * i + 1]!);
    });
    return { loss: tf.keep(loss as tf.Scalar), hits: tf.keep(hits as tf.Scalar) };
  });
}
