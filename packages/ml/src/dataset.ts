import { type Rng, createRng, shuffleInPlace } from '@fedlink/core';

/**
 * A labelled image dataset held as flat typed arrays (NHWC, values in [0, 1]), so slicing,
 * partitioning and batching never build per-example JS objects.
 */
export interface ImageDataset {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  /**
   * Regression: one target per example (standardised, see tabular.ts); `labels` are then unused
   * and `numClasses` is 1. Absent: classification by `labels`.
   */
  targets?: Float32Array;
  /** Regression: the label's standard deviation, to report errors in the label's units (default 1). */
  targetScale?: number;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

export function exampleSize(ds: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number {
  return ds.height * ds.width * ds.channels;
}

/** Checks internal consistency; throws a DatasetError naming what is wrong. */
export function validateDataset(ds: ImageDataset): void {
  const size = exampleSize(ds);
  if (!(ds.count >= 0 && Number.isInteger(ds.count))) throw new DatasetError(`bad example count ${ds.count}`);
  if (ds.images.length !== ds.count * size) {
    throw new DatasetError(`images hold ${ds.images.length} values, expected ${ds.count} x ${size}`);
  }
  if (ds.labels.length !== ds.count) throw new DatasetError(`${ds.labels.length} labels for ${ds.count} images`);
  if (ds.targets && ds.targets.length !== ds.count) throw new DatasetError(`${ds.targets.length} targets for ${ds.count} examples`);
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i]! >= ds.numClasses) {
      throw new DatasetError(`label ${ds.labels[i]} of example ${i} is outside the model's ${ds.numClasses} classes`);
    }
  }
}

export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const size = exampleSize(ds);
  const images = new Float32Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < ds.count)) throw new DatasetError(`index ${i} out of range 0..${ds.count - 1}`);
    images.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = ds.labels[i]!;
  }
  const targets = ds.targets ? Float32Array.from(indices, (i) => ds.targets![i]!) : undefined;
  return { ...ds, images, labels, count: indices.length, ...(targets ? { targets } : {}) };
}

/** A deterministic shuffled split into train and test parts. */
export function splitTrainTest(ds: ImageDataset, testCount: number, seed: number): { train: ImageDataset; test: ImageDataset } {
  if (!(testCount > 0 && testCount < ds.count)) throw new DatasetError(`test size ${testCount} must be in 1..${ds.count - 1}`);
  const idx = Int32Array.from({ length: ds.count }, (_, i) => i);
  shuffleInPlace(idx, createRng(seed));
  return { test: subset(ds, idx.subarray(0, testCount)), train: subset(ds, idx.subarray(testCount)) };
}

/**
 * A client's own held-out split for federated evaluation: `share` of its examples (at least one,
 * leaving at least one to train on), drawn deterministically from `seed`.
 */
export function splitHoldout(ds: ImageDataset, share: number, seed: number): { train: ImageDataset; holdout: ImageDataset } {
  if (!(share > 0 && share < 1)) throw new DatasetError(`held-out share ${share} must be in (0, 1)`);
  if (ds.count < 2) throw new DatasetError(`${ds.count} example(s) can't be split into training and held-out parts`);
  const testCount = Math.min(ds.count - 1, Math.max(1, Math.round(ds.count * share)));
  const { train, test } = splitTrainTest(ds, testCount, seed);
  return { train, holdout: test };
}

/** Copies the given examples into one contiguous batch buffer. */
export function gatherBatch(ds: ImageDataset, order: ArrayLike<number>, start: number, end: number, into?: Float32Array): { x: Float32Array; y: Int32Array; t?: Float32Array } {
  const size = exampleSize(ds);
  const n = end - start;
  const x = into && into.length === n * size ? into : new Float32Array(n * size);
  const y = new Int32Array(n);
  const t = ds.targets ? new Float32Array(n) : undefined;
  for (let k = 0; k < n; k++) {
    const i = order[start + k]!;
    x.set(ds.images.subarray(i * size, (i + 1) * size), k * size);
    y[k] = ds.labels[i]!;
    if (t) t[k] = ds.targets![i]!;
  }
  return t ? { x, y, t } : { x, y };
}

export function shuffledOrder(count: number, rng: Rng): Int32Array {
  const idx = Int32Array.from({ length: count }, (_, i) => i);
  shuffleInPlace(idx, rng);
  return idx;
}
