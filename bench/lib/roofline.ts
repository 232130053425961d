/**
 * Roofline figures for the native kernels: each of the paper CNN's and the MLP's big ops, called
 * straight on the addon at the bench's batch sizes, as achieved GFLOP/s against the machine's
 * fp32 peak, which bench:train measures with the addon's fmaPeakGflops (independent FMA chains of
 * the ISA in use on every kernel thread) unless --peak-gflops gives it.
 */
import type { NativeKernels } from '@fedlink/native';

export interface KernelRate {
  kernel: string;
  /**
   * Of the direct algorithm's FLOPs (2 per multiply-add of the plain sum), as convolution
   * benchmarks count them: a Winograd kernel does fewer (36 multiplies per 100 for F(2x2, 5x5)),
   * so its rate can pass the FMA peak.
   */
  gflops: number;
  ms: number;
  /** Convolutions: the algorithm the addon ran ('winograd', 'direct', 'im2col'). */
  path?: string;
}

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

function time(fn: () => void, minMs = 300): number {
  fn();
  let reps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    reps++;
  }
  return (performance.now() - t0) / reps;
}

/** conv 5x5 'same' geometry of the paper CNN: [batch, h, w, inC, outC]. */
function convDims(b: number, h: number, inC: number, outC: number): Int32Array {
  return Int32Array.of(b, h, h, inC, h, h, outC, 5, 5, 1, 1, 1, 1, 2, 2);
}

export function measureRoofline(addon: NativeKernels, batch: number): KernelRate[] {
  const out: KernelRate[] = [];
  const rate = (kernel: string, flops: number, fn: () => void, path?: string) => {
    const ms = time(fn);
    out.push({ kernel, gflops: flops / ms / 1e6, ms, ...(path ? { path } : {}) });
  };
  for (const [name, h, ci, co] of [['conv1', 28, 1, 32], ['conv2', 14, 32, 64]] as const) {
    const d = convDims(batch, h, ci, co);
    const x = fill(batch * h * h * ci, 1);
    const w = fill(25 * ci * co, 2);
    const y = new Float32Array(batch * h * h * co);
    const flops = 2 * batch * h * h * co * 25 * ci;
    const paths = addon.conv2dPaths(d);
    rate(`${name} fwd ${h}x${h}x${ci}->${co}`, flops, () => addon.conv2dForward(x, w, y, null, true, d), paths.forward);
    rate(`${name} dW`, flops, () => addon.conv2dBackpropFilter(x, y, w, d), paths.filter);
    if (ci > 1) rate(`${name} dx`, flops, () => addon.conv2dBackpropInput(y, w, x, d), paths.input);
  }
  for (const [name, k, n] of [['dense 3136x512', 3136, 512], ['dense 784x200', 784, 200]] as const) {
    const a = fill(batch * k, 3);
    const b = fill(k * n, 4);
    const c = new Float32Array(batch * n);
    rate(`${name} fwd (m=${batch})`, 2 * batch * k * n, () => addon.matmul(a, b, c, null, false, 1, 0, 0, batch, n, k, false, false));
    const dw = new Float32Array(k * n);
    rate(`${name} dW`, 2 * batch * k * n, () => addon.matmul(a, c, dw, null, false, 1, 0, 0, k, n, batch, true, false));
  }
  return out;
}
