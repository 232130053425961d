/**
 * The compiled kernels (csrc/*.c, built by scripts/build-wasm.sh) and their exports.
 * Pointers are byte offsets into the shared memory; sizes are element counts unless the
 * name says bytes. Entry points that take a workspace return 0, or the workspace bytes
 * they need when `wsBytes` is too small (the caller grows it and calls again).
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** The geometry every conv2d entry point takes (see conv-util.ts convDims). */
export type ConvDims = [
  batch: number, inH: number, inW: number, inC: number, outH: number, outW: number, outC: number,
  kH: number, kW: number, strideH: number, strideW: number, dilH: number, dilW: number, padTop: number, padLeft: number,
];
/** A conv2d entry point's trailing arguments: geometry, then the workspace. */
type ConvCall = [...dims: ConvDims, ws: number, wsBytes: number];

export interface KernelExports {
  readonly __heap_base: WebAssembly.Global;
  readonly __stack_pointer: WebAssembly.Global;
  fl_set_threads(workers: number, spin: number): void;
  fl_worker_loop(tid: number): void;
  fl_tune(which: number, value: number): number;
  conv2d_forward(x: number, w: number, y: number, bias: number, relu: number, ...rest: ConvCall): number;
  conv2d_backprop_input(dy: number, w: number, dx: number, ...rest: ConvCall): number;
  conv2d_backprop_filter(x: number, dy: number, dw: number, ...rest: ConvCall): number;
  matmul(
    a: number, b: number, c: number, bias: number, relu: number,
    batch: number, aBatchStride: number, bBatchStride: number,
    m: number, n: number, k: number, transA: number, transB: number,
    ws: number, wsBytes: number,
  ): number;
  maxpool_forward(
    x: number, y: number, b: number, h: number, w: number, c: number, oh: number, ow: number,
    kh: number, kw: number, sh: number, sw: number, pt: number, pl: number,
  ): void;
  maxpool_backward(
    dy: number, x: number, dx: number, b: number, h: number, w: number, c: number, oh: number, ow: number,
    kh: number, kw: number, sh: number, sw: number, pt: number, pl: number,
  ): void;
  binary_op(op: number, mode: number, a: number, b: number, out: number, n: number, inner: number): void;
  unary_op(op: number, x: number, out: number, n: number, alpha: number): void;
  sum_leading(x: number, out: number, rows: number, cols: number): void;
  sum_trailing(x: number, out: number, rows: number, cols: number): void;
}

/** Operation codes shared with elementwise.c. */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3 } as const;
export const Broadcast = { none: 0, bScalar: 1, aScalar: 2, bRow: 3, aRow: 4 } as const;
export const UnaryOp = { relu: 0, step: 1 } as const;
/** Indices of fl_tune's block sizes (tuning.h). */
export const Tune = { convColFloats: 0, filterColFloats: 1, matmulAFloats: 2, elementwiseChunk: 3, matmulKc: 4, minParallelWork: 5 } as const;

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(b64, 'base64'));
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiles the kernels once per process; the Module is shared with worker threads. */
export function compileKernels(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(decodeBase64(KERNELS_WASM_BASE64));
  return compiled;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  // The export object's shape is fixed by csrc/*.c; WebAssembly types it as a plain record.
  return instance.exports as unknown as KernelExports;
}

/** True if this JS engine runs wasm SIMD, threads (shared memory) and atomics. */
export function wasmFeaturesAvailable(): boolean {
  try {
    if (typeof SharedArrayBuffer === 'undefined') return false;
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    // A module whose one function returns a v128 constant validates only with SIMD.
    const simd = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
    ]);
    return WebAssembly.validate(simd);
  } catch {
    return false;
  }
}
