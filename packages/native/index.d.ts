/** How a convolution runs: Winograd F(2x2, 5x5) tiles, the direct kernels, or im2col + GEMM. */
export type ConvPath = 'winograd' | 'direct' | 'im2col';

/** The native addon's functions. Arrays are the caller's; results are written into the output array. */
export interface NativeKernels {
  /** c[batch, m, n] = act(op(a) * op(b) + bias); strides in elements between batch items (0 broadcasts). */
  matmul(
    a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, relu: boolean,
    batch: number, aBatchStride: number, bBatchStride: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean,
  ): void;
  /** dims: batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft. */
  conv2dForward(x: Float32Array, w: Float32Array, y: Float32Array, bias: Float32Array | null, relu: boolean, dims: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  /** The algorithm each of the three convolutions runs for dims on the ISA in use. */
  conv2dPaths(dims: Int32Array): { forward: ConvPath; filter: ConvPath; input: ConvPath };
  /** dims: batch, inH, inW, ch, outH, outW, fH, fW, strideH, strideW, padTop, padLeft. */
  maxpoolForward(x: Float32Array, y: Float32Array, dims: Int32Array): void;
  maxpoolBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, dims: Int32Array): void;
  /** out = c * gradient + value over value's length (c = -learning rate), rounded like tfjs's add(mul(c, g), v). */
  sgdUpdate(value: Float32Array, gradient: Float32Array, out: Float32Array, c: number): void;
  /**
   * One SGD step of a sequential model on softmax cross-entropy (mean over the batch). layers: 32
   * integers a layer: kind (0 dense, 1 conv, 2 max-pool), relu, dense in and out widths, the 15
   * conv dims (conv2dForward's), the 12 pool dims (maxpoolForward's), one unused; the last layer
   * is dense without relu (the logits). One weight and one bias array per dense or conv layer.
   * Writes the new weights and biases (c = -learning rate) and returns [mean loss, rows whose
   * logits peak where y does].
   */
  sequentialSgdStep(
    x: Float32Array, y: Float32Array, layers: Int32Array, weights: Float32Array[], biases: Float32Array[], newWeights: Float32Array[], newBiases: Float32Array[],
    batch: number, c: number,
  ): [number, number];
  /** Kernel threads, the calling thread included. */
  setThreads(n: number): void;
  threads(): number;
  /** Bytes the addon holds in scratch buffers (im2col, GEMM packing), all threads: grows to a plateau, never per call. */
  scratchBytes(): number;
  /** The fp32 FMA throughput of the ISA in use on all kernel threads, measured for about `ms` (the roofline's peak). */
  fmaPeakGflops(ms: number): number;
  /** The micro-kernels in use: 'avx512', 'avx2+fma' or 'portable'. */
  isa(): NativeIsa;
  /** The micro-kernels this CPU can run, best first ('portable' always last). */
  isas(): NativeIsa[];
  /** Run `isa` from now on ('auto': the best this CPU has); a RangeError if this CPU can't (tests, A/B benches). */
  useIsa(isa: NativeIsa | 'auto'): void;
}
/** A SIMD level of the native kernels. */
export type NativeIsa = 'avx512' | 'avx2+fma' | 'portable';
export function addonPath(): string;
/** The addon, or undefined if it was not built, does not load, or FEDLINK_NATIVE=0. */
export function loadNative(): NativeKernels | undefined;
/** Why loadNative() returned undefined, if it did. */
export function nativeLoadError(): string | undefined;
