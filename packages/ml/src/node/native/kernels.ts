/**
 * The native backend's C++ kernels. Shapes and the inputs each fast path takes are the fedlink
 * kernels' (conv-util, matmul-util); what differs is only where the arithmetic runs.
 * Anything a fast path does not take goes to the stock cpu kernel (fastKernel).
 */
import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  MaxPool,
  MaxPoolGrad,
  _FusedMatMul,
  type BatchMatMulAttrs,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type FusedConv2DAttrs,
  type KernelConfig,
  type MaxPoolAttrs,
  type TensorInfo,
  type _FusedMatMulAttrs,
} from '@tensorflow/tfjs';
import { convDims, filterGradConvInfo, forwardConvInfo, inputGradConvInfo, isChannelBias, maxPoolInfo, poolDims } from '../../fast/kernels/conv-util.js';
import { fastKernel, nonEmptyF32, sizeOf, type FastPath } from '../../fast/kernels/kernel-util.js';
import { SGD_UPDATE_KERNEL, type SgdUpdateAttrs } from '../../optimizer.js';
import { LAYER_CODE_SIZE, SEQUENTIAL_SGD_STEP_KERNEL, type SequentialSgdStepAttrs } from '../../fused-step.js';
import { planMatmul } from '../../fast/kernels/matmul-util.js';
import { NATIVE_BACKEND, type BackendNative } from './backend.js';

const kernel = (name: string, fast: FastPath<BackendNative>): KernelConfig => fastKernel(NATIVE_BACKEND, name, fast);

function matmul(backend: BackendNative, a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean, bias: TensorInfo | undefined, relu: boolean): TensorInfo | undefined {
  const plan = planMatmul(a, b, transA, transB);
  if (!plan) return undefined;
  if (bias !== undefined && !isChannelBias(bias, plan.n)) return undefined;
  const av = backend.f32(a);
  const bv = backend.f32(b);
  const biasV = bias === undefined ? null : backend.f32(bias);
  const out = backend.output(plan.outShape);
  backend.addon.matmul(av, bv, out.values, biasV, relu, plan.batch, plan.aBatchStride, plan.bBatchStride, plan.m, plan.n, plan.k, transA, transB);
  return out.info;
}

const batchMatMul = kernel(BatchMatMul, ({ inputs: { a, b }, backend, attrs }) => {
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  return nonEmptyF32(a, b) ? matmul(backend, a!, b!, transposeA, transposeB, undefined, false) : undefined;
});

/** matmul + per-column bias + linear/relu in one call. */
const fusedMatMul = kernel(_FusedMatMul, ({ inputs: { a, b, bias, preluActivationWeights }, backend, attrs }) => {
  const { transposeA, transposeB, activation } = attrs as unknown as _FusedMatMulAttrs;
  if (!nonEmptyF32(a, b) || preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu')) return undefined;
  return matmul(backend, a!, b!, transposeA, transposeB, bias, activation === 'relu');
});

function convForward(backend: BackendNative, x: TensorInfo | undefined, filter: TensorInfo | undefined, attrs: Conv2DAttrs, bias: TensorInfo | undefined, relu: boolean): TensorInfo | undefined {
  const info = forwardConvInfo(x, filter, attrs);
  if (!info) return undefined;
  if (bias !== undefined && !isChannelBias(bias, info.outChannels)) return undefined;
  const xv = backend.f32(x!);
  const wv = backend.f32(filter!);
  const biasV = bias === undefined ? null : backend.f32(bias);
  const out = backend.output(info.outShape);
  backend.addon.conv2dForward(xv, wv, out.values, biasV, relu, Int32Array.from(convDims(info)));
  return out.info;
}

const conv2D = kernel(Conv2D, ({ inputs: { x, filter }, backend, attrs }) => convForward(backend, x, filter, attrs as unknown as Conv2DAttrs, undefined, false));

/** conv2d + per-channel bias + linear/relu (tfjs-layers' inference path). */
const fusedConv2D = kernel(FusedConv2D, ({ inputs: { x, filter, bias, preluActivationWeights }, backend, attrs }) => {
  const a = attrs as unknown as FusedConv2DAttrs;
  if (preluActivationWeights !== undefined || (a.activation !== 'linear' && a.activation !== 'relu')) return undefined;
  return convForward(backend, x, filter, a, bias, a.activation === 'relu');
});

/** dx = col2im(dy * W^T). */
const conv2DBackpropInput = kernel(Conv2DBackpropInput, ({ inputs: { dy, filter }, backend, attrs }) => {
  const info = inputGradConvInfo(dy, filter, attrs as unknown as Conv2DBackpropInputAttrs);
  if (!info) return undefined;
  const out = backend.output(info.inShape);
  backend.addon.conv2dBackpropInput(backend.f32(dy!), backend.f32(filter!), out.values, Int32Array.from(convDims(info)));
  return out.info;
});

/** dW = sum over images of im2col(x)^T * dy. */
const conv2DBackpropFilter = kernel(Conv2DBackpropFilter, ({ inputs: { x, dy }, backend, attrs }) => {
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = filterGradConvInfo(x, dy, a);
  if (!info) return undefined;
  const out = backend.output(a.filterShape);
  backend.addon.conv2dBackpropFilter(backend.f32(x!), backend.f32(dy!), out.values, Int32Array.from(convDims(info)));
  return out.info;
});

const maxPool = kernel(MaxPool, ({ inputs: { x }, backend, attrs }) => {
  const c = maxPoolInfo(x, attrs as unknown as MaxPoolAttrs);
  if (!c) return undefined;
  const out = backend.output(c.outShape);
  backend.addon.maxpoolForward(backend.f32(x!), out.values, Int32Array.from(poolDims(c)));
  return out.info;
});

/** Each dy value to the first maximum of its window (tfjs cpu's rule). */
const maxPoolGrad = kernel(MaxPoolGrad, ({ inputs: { dy, input }, backend, attrs }) => {
  const c = maxPoolInfo(input, attrs as unknown as MaxPoolAttrs);
  if (!c || !nonEmptyF32(dy)) return undefined;
  const out = backend.output(input!.shape);
  backend.addon.maxpoolBackward(backend.f32(dy!), backend.f32(input!), out.values, Int32Array.from(poolDims(c)));
  return out.info;
});

/**
 * The SGD update c * gradient + value in one pass (FusedSgdOptimizer's kernel; c = -learning
 * rate). No cpu kernel has this name, so there is no fallback: the optimizer calls it only on
 * float32 tensors of one shape, and anything else is a TypeError here.
 */
const sgdUpdate: KernelConfig = {
  kernelName: SGD_UPDATE_KERNEL,
  backendName: NATIVE_BACKEND,
  kernelFunc: ({ inputs: { value, gradient }, backend, attrs }) => {
    const b = backend as BackendNative;
    const c = (attrs as unknown as SgdUpdateAttrs | undefined)?.c;
    if (!value || !gradient || value.dtype !== 'float32' || gradient.dtype !== 'float32' || sizeOf(value.shape) !== sizeOf(gradient.shape) || typeof c !== 'number') {
      throw new TypeError(`${SGD_UPDATE_KERNEL}: needs float32 value and gradient of one size and a number c`);
    }
    const out = b.output(value.shape);
    b.addon.sgdUpdate(b.f32(value), b.f32(gradient), out.values, c);
    return out.info;
  },
};

/**
 * One SGD step of a sequential model (fused-step.ts; inputs x [n, inputs], y [n, classes], then
 * w0, b0, w1, ... for each dense or conv layer; outputs: loss, hits, then each of those layers'
 * new kernel and bias). No cpu kernel has this name: fusedSgdStep calls it only where it is
 * registered, and a malformed call is a TypeError (or the addon's RangeError for geometry).
 */
const sequentialSgdStep: KernelConfig = {
  kernelName: SEQUENTIAL_SGD_STEP_KERNEL,
  backendName: NATIVE_BACKEND,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = backend as BackendNative;
    const { c, layers } = (attrs ?? {}) as unknown as Partial<SequentialSgdStepAttrs>;
    const fail = (why: string): never => {
      throw new TypeError(`${SEQUENTIAL_SGD_STEP_KERNEL}: ${why}`);
    };
    if (typeof c !== 'number' || !Array.isArray(layers) || layers.length === 0 || layers.length % LAYER_CODE_SIZE !== 0) return fail(`needs attrs c (a number) and layers (${LAYER_CODE_SIZE} integers a layer)`);
    const { x, y } = inputs;
    if (!x || !y || y.shape.length !== 2 || x.shape[0] !== y.shape[0] || !nonEmptyF32(x, y)) return fail('needs float32 x [n, ...] and y [n, classes]');
    const count = layers.length / LAYER_CODE_SIZE;
    const first = layers.slice(0, LAYER_CODE_SIZE);
    // Values an example: dense din; conv inH * inW * inC; pool inH * inW * ch.
    const perExample = first[0] === 0 ? first[2]! : first[0] === 1 ? first[5]! * first[6]! * first[7]! : first[20]! * first[21]! * first[22]!;
    const classes = layers[(count - 1) * LAYER_CODE_SIZE + 3];
    if (sizeOf(x.shape) !== x.shape[0]! * perExample) return fail(`x has ${sizeOf(x.shape) / x.shape[0]!} values an example, the first layer takes ${perExample}`);
    if (y.shape[1] !== classes) return fail(`y has ${y.shape[1]} classes, the last layer gives ${classes}`);
    const ws: TensorInfo[] = [];
    const bs: TensorInfo[] = [];
    for (let l = 0, p = 0; l < count; l++) {
      const code = layers.slice(l * LAYER_CODE_SIZE, (l + 1) * LAYER_CODE_SIZE);
      if (code[0] === 2) continue;
      // dense: din x dout and dout; conv: fH x fW x inC x outC and outC.
      const [wSize, bSize] = code[0] === 0 ? [code[2]! * code[3]!, code[3]!] : [code[11]! * code[12]! * code[7]! * code[10]!, code[10]!];
      const w = inputs[`w${p}`];
      const bias = inputs[`b${p}`];
      if (!w || !bias || !nonEmptyF32(w, bias) || sizeOf(w.shape) !== wSize || sizeOf(bias.shape) !== bSize) return fail(`layer ${l}: needs float32 w${p} of ${wSize} values and b${p} of ${bSize}`);
      ws.push(w);
      bs.push(bias);
      p++;
    }
    const loss = b.output([]);
    const hits = b.output([]);
    const newW = ws.map((w) => b.output(w.shape));
    const newB = bs.map((bias) => b.output(bias.shape));
    const [l, h] = b.addon.sequentialSgdStep(
      b.f32(x), b.f32(y), Int32Array.from(layers), ws.map((w) => b.f32(w)), bs.map((bias) => b.f32(bias)), newW.map((o) => o.values), newB.map((o) => o.values), x.shape[0]!, c,
    );
    loss.values[0] = l;
    hits.values[0] = h;
    return [loss.info, hits.info, ...newW.flatMap((w, i) => [w.info, newB[i]!.info])];
  },
};

/** The kernels the native backend runs in C++; all others are tfjs cpu's. */
export const NATIVE_KERNELS: readonly KernelConfig[] = [
  batchMatMul, fusedMatMul, conv2D, fusedConv2D, conv2DBackpropInput, conv2DBackpropFilter, maxPool, maxPoolGrad, sgdUpdate, sequentialSgdStep,
];
