/** A fixed, deterministic MNIST subset from the `mnist` package (no download). */
import { createRequire } from 'node:module';

interface Digit {
  get(index: number): number[];
  length: number;
}
// `mnist` is CommonJS without typings: an array of ten digit sources.
const digits = createRequire(import.meta.url)('mnist') as Digit[];

export interface Subset {
  x: Float32Array; // [n, 28, 28, 1]
  y: Float32Array; // one-hot [n, 10]
  labels: number[];
  n: number;
}

/** `perDigit` images of each digit starting at `start`, interleaved 0..9,0..9,... */
export function mnistSubset(start: number, perDigit: number): Subset {
  const n = perDigit * 10;
  const x = new Float32Array(n * 784);
  const y = new Float32Array(n * 10);
  const labels: number[] = [];
  for (let i = 0; i < perDigit; i++) {
    for (let d = 0; d < 10; d++) {
      const k = i * 10 + d;
      x.set(digits[d]!.get(start + i), k * 784);
      y[k * 10 + d] = 1;
      labels.push(d);
    }
  }
  return { x, y, labels, n };
}
