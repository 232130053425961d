/** Test helpers: run the same computation on tfjs `cpu` and on `fedlink` (or `native`) and compare. */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@fedlink/ml';

/** Registers and initialises fedlink with 2 kernel threads, so the threaded paths run. */
export async function initFedlink(): Promise<void> {
  const info = await initBackend('fedlink', { threads: 2 });
  if (info.name !== 'fedlink') throw new Error(`expected fedlink, got ${info.name}`);
}

/** Stops fedlink's worker threads (jest reuses processes across test files). */
export function disposeFedlink(): void {
  if (tf.findBackend('fedlink') != null) tf.removeBackend('fedlink');
}

/** Deterministic uniform values in [-scale, scale) (mulberry32). */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export interface Comparison {
  /** Largest |fedlink - cpu| over all outputs. */
  maxAbsDiff: number;
  /** Largest |cpu| over all outputs, to judge the difference against. */
  maxAbsRef: number;
  /** Outputs whose NaN pattern differs. */
  nanMismatches: number;
}

async function runOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return values;
}

/** Runs f on cpu and on `other` (default fedlink; f must build its inputs itself) and compares outputs. */
export async function compareBackends(f: () => tf.Tensor[], other = 'fedlink'): Promise<Comparison> {
  const ref = await runOn('cpu', f);
  const got = await runOn(other, f);
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  let nanMismatches = 0;
  ref.forEach((r, k) => {
    const g = got[k]!;
    if (g.length !== r.length) throw new Error(`output ${k}: length ${g.length} != ${r.length}`);
    for (let i = 0; i < r.length; i++) {
      const a = r[i]!;
      const b = g[i]!;
      if (Number.isNaN(a) || Number.isNaN(b)) {
        if (Number.isNaN(a) !== Number.isNaN(b)) nanMismatches++;
        continue;
      }
      maxAbsRef = Math.max(maxAbsRef, Math.abs(a));
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
    }
  });
  return { maxAbsDiff, maxAbsRef, nanMismatches };
}

/** Float32 accumulation differs from the cpu backend's float64 sums in the last bits. */
export function tolerance(c: Comparison): number {
  return 2e-5 * Math.max(1, c.maxAbsRef);
}
