import { type AggregateResult, type AggregationRound, type Aggregator, AggregationError, RoundGuard, checkContribution } from './aggregator.js';
import type { AggregatorSpec } from './spec.js';

/**
 * Byzantine-robust aggregators: each needs every client's update (a pre-summed group hides the
 * outliers they exist to find), so a round buffers the deltas it is given: memory O(clients x
 * model), not the weighted mean's O(model), by nature of the rules. None runs under secure
 * aggregation (config validation refuses the combination).
 *
 * The rules are pure functions on the buffered deltas (exported for tests and other drivers);
 * the classes only buffer and validate. Arithmetic is float64; results are stored as float32.
 * Each rule follows its paper and Flower's implementation (flwr serverapp/strategy), which work
 * on client weights; every rule here is translation-invariant, so applying it to deltas
 * (weights - global) gives Flower's aggregate minus the global model.
 */

/** The deltas of one round and their example counts (weights). */
export interface Contributions {
  readonly deltas: readonly Float32Array[];
  readonly weights: readonly number[];
}

/** A reduction of buffered contributions: the new delta plus figures for the round record. */
export type Reduction = (c: Contributions) => { meanDelta: Float32Array; metrics: Record<string, number> };

/**
 * An aggregation round that buffers every delta (as float32) and reduces them at finish().
 * Refuses pre-summed groups; bad lengths and weights throw RangeError and change nothing.
 */
export function bufferedRound(kind: string, length: number, reduce: Reduction, minUpdates = 1): AggregationRound {
  const deltas: Float32Array[] = [];
  const weights: number[] = [];
  let total = 0;
  const guard = new RoundGuard();
  return {
    add: (delta, numExamples) => {
      guard.assertOpen();
      checkContribution(delta, numExamples, length);
      deltas.push(Float32Array.from(delta));
      weights.push(numExamples);
      total += numExamples;
    },
    addWeightedSum: () => {
      guard.assertOpen();
      throw new AggregationError(`${kind} needs individual updates: a pre-summed group (secure aggregation, an edge partial sum) hides the outliers it must find`);
    },
    get count() {
      return deltas.length;
    },
    get totalExamples() {
      return total;
    },
    finish: (): AggregateResult => {
      guard.assertOpen();
      if (deltas.length === 0) throw new AggregationError('nothing to aggregate: no update was added');
      if (deltas.length < minUpdates) throw new AggregationError(`${kind} needs at least ${minUpdates} updates, got ${deltas.length}`);
      guard.close();
      const { meanDelta, metrics } = reduce({ deltas, weights });
      return { meanDelta, count: deltas.length, totalExamples: total, metrics };
    },
  };
}

/** The fewest updates an aggregator spec can reduce: Bulyan needs 4f + 3 (El Mhamdi et al.); the others 1. */
export function minUpdatesOf(spec: AggregatorSpec): number {
  return spec.kind === 'bulyan' ? 4 * spec.f + 3 : 1;
}

/** Median of `values[0..n)` (sorted in place): the middle one, or the mean of the two middle ones (numpy's np.median). */
function medianOfSorted(values: Float64Array, n: number): number {
  const h = n >> 1;
  return n % 2 === 1 ? values[h]! : (values[h - 1]! + values[h]!) / 2;
}

/** Applies `f` to each coordinate's column of values (sorted ascending) and stores its result. */
function perCoordinate(deltas: readonly Float32Array[], f: (sorted: Float64Array) => number): Float32Array {
  const n = deltas.length;
  const length = deltas[0]!.length;
  const out = new Float32Array(length);
  const column = new Float64Array(n);
  for (let j = 0; j < length; j++) {
    for (let i = 0; i < n; i++) column[i] = deltas[i]![j]!;
    column.sort();
    out[j] = f(column);
  }
  return out;
}

/** Coordinate-wise median, unweighted (Yin et al. 2018; Flower FedMedian: np.median over clients). */
export function coordinateMedian({ deltas }: Contributions): Float32Array {
  return perCoordinate(deltas, (sorted) => medianOfSorted(sorted, sorted.length));
}

/**
 * Coordinate-wise trimmed mean, unweighted (Yin et al. 2018; Flower FedTrimmedAvg, after
 * scipy.stats.trim_mean): k = floor(beta n) values are cut from each end, the rest averaged.
 */
export function trimmedMean({ deltas }: Contributions, beta: number): Float32Array {
  const n = deltas.length;
  const k = Math.floor(beta * n);
  if (n - 2 * k < 1) throw new AggregationError(`trimmed mean with beta ${beta} leaves nothing of ${n} updates`);
  return perCoordinate(deltas, (sorted) => {
    let s = 0;
    for (let i = k; i < n - k; i++) s += sorted[i]!;
    return s / (n - 2 * k);
  });
}

/** Squared L2 distances between every pair of deltas, in float64 (symmetric, zero diagonal). */
export function squaredDistances(deltas: readonly Float32Array[]): Float64Array[] {
  const n = deltas.length;
  const d = Array.from({ length: n }, () => new Float64Array(n));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const x = deltas[a]!;
      const y = deltas[b]!;
      let s = 0;
      for (let j = 0; j < x.length; j++) {
        const t = x[j]! - y[j]!;
        s += t * t;
      }
      d[a]![b] = d[b]![a] = s;
    }
  }
  return d;
}

/**
 * Krum scores (Blanchard et al. 2017): for each update, the sum of its squared distances to its
 * max(1, n - f - 2) nearest other updates (as Flower's select_multikrum counts them).
 */
export function krumScores(deltas: readonly Float32Array[], f: number): number[] {
  const n = deltas.length;
  const dist = squaredDistances(deltas);
  const closest = Math.min(n - 1, Math.max(1, n - f - 2));
  return dist.map((row, i) => {
    const others = Array.from(row).filter((_, k) => k !== i).sort((a, b) => a - b);
    return others.slice(0, closest).reduce((s, x) => s + x, 0);
  });
}

/** Indices of the `m` lowest scores (ties to the lower index), at most all of them. */
export function lowestScores(scores: readonly number[], m: number): number[] {
  return scores
    .map((s, i) => [s, i] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, m)
    .map(([, i]) => i);
}

/** Example-weighted mean of the chosen deltas. */
function weightedMeanOf({ deltas, weights }: Contributions, chosen: readonly number[]): Float32Array {
  const length = deltas[0]!.length;
  const sum = new Float64Array(length);
  let total = 0;
  for (const i of chosen) {
    const d = deltas[i]!;
    const w = weights[i]!;
    for (let j = 0; j < length; j++) sum[j]! += w * d[j]!;
    total += w;
  }
  return Float32Array.from(sum, (x) => x / total);
}

/** Multi-Krum: the example-weighted mean of the `m` updates of lowest Krum score (m = 1: Krum itself, that one update). */
export function multiKrum(c: Contributions, f: number, m: number): { meanDelta: Float32Array; selected: number[] } {
  const selected = lowestScores(krumScores(c.deltas, f), m);
  return { meanDelta: weightedMeanOf(c, selected), selected };
}

/**
 * Bulyan (El Mhamdi et al. 2018) as Flower's serverapp Bulyan runs it: theta = n - 2f updates
 * of lowest Krum score are selected (in one pass; the paper re-runs Krum after each pick), then
 * per coordinate the beta = theta - 2f values closest to the selected values' median are
 * averaged, unweighted. Needs n >= 4f + 3.
 */
export function bulyan({ deltas }: Contributions, f: number): { meanDelta: Float32Array; selected: number[] } {
  const n = deltas.length;
  if (n < 4 * f + 3) throw new AggregationError(`bulyan with f ${f} needs at least ${4 * f + 3} updates, got ${n}`);
  const theta = n - 2 * f;
  const beta = theta - 2 * f;
  const selected = lowestScores(krumScores(deltas, f), theta);
  const chosen = selected.map((i) => deltas[i]!);
  const meanDelta = perCoordinate(chosen, (sorted) => {
    const med = medianOfSorted(sorted, theta);
    // The beta values nearest the median of a sorted column are a contiguous window around it.
    let lo = 0;
    let hi = theta; // window [lo, hi); shrink from the farther end until beta remain
    while (hi - lo > beta) {
      if (med - sorted[lo]! > sorted[hi - 1]! - med) lo++;
      else hi--;
    }
    let s = 0;
    for (let i = lo; i < hi; i++) s += sorted[i]!;
    return s / beta;
  });
  return { meanDelta, selected };
}

/**
 * Centered clipping (Karimireddy, He and Jaggi 2021, "Learning from History for Byzantine Robust
 * Optimization"): starting from v = 0 (the current global model: no move), `iterations` times
 * v <- v + (1/n) sum_i (d_i - v) min(1, tau / ||d_i - v||), unweighted. Returns v and how many
 * updates the last iteration clipped.
 */
export function centeredClip({ deltas }: Contributions, tau: number, iterations: number): { meanDelta: Float32Array; clipped: number } {
  const n = deltas.length;
  const length = deltas[0]!.length;
  const v = new Float64Array(length);
  const step = new Float64Array(length);
  let clipped = 0;
  for (let it = 0; it < iterations; it++) {
    step.fill(0);
    clipped = 0;
    for (const d of deltas) {
      let sq = 0;
      for (let j = 0; j < length; j++) {
        const t = d[j]! - v[j]!;
        sq += t * t;
      }
      const norm = Math.sqrt(sq);
      const scale = norm > tau ? tau / norm : 1;
      if (norm > tau) clipped++;
      for (let j = 0; j < length; j++) step[j]! += scale * (d[j]! - v[j]!);
    }
    for (let j = 0; j < length; j++) v[j]! += step[j]! / n;
  }
  return { meanDelta: Float32Array.from(v), clipped };
}

function nonNegativeInt(kind: string, name: string, x: number, min = 0): void {
  if (!(Number.isInteger(x) && x >= min)) throw new RangeError(`${kind} ${name} must be an integer >= ${min}, got ${x}`);
}

/** Coordinate-wise median (Flower FedMedian). */
export class MedianAggregator implements Aggregator {
  readonly kind = 'median';
  readonly needsIndividualUpdates = true;

  begin(length: number): AggregationRound {
    return bufferedRound(this.kind, length, (c) => ({ meanDelta: coordinateMedian(c), metrics: {} }));
  }
}

/** Coordinate-wise trimmed mean, cutting floor(beta n) from each end (Flower FedTrimmedAvg). */
export class TrimmedMeanAggregator implements Aggregator {
  readonly kind = 'trimmed-mean';
  readonly needsIndividualUpdates = true;

  constructor(readonly beta: number) {
    if (!(beta >= 0 && beta < 0.5)) throw new RangeError(`trimmed-mean beta must be in [0, 0.5), got ${beta}`);
  }

  begin(length: number): AggregationRound {
    return bufferedRound(this.kind, length, (c) => ({ meanDelta: trimmedMean(c, this.beta), metrics: { trimmed: 2 * Math.floor(this.beta * c.deltas.length) } }));
  }
}

/** Krum (m 1) and Multi-Krum (m > 1) tolerating f Byzantine clients. Metrics: `rejected`, the updates left out. */
export class KrumAggregator implements Aggregator {
  readonly kind = 'krum';
  readonly needsIndividualUpdates = true;

  constructor(
    readonly f: number,
    readonly m = 1,
  ) {
    nonNegativeInt(this.kind, 'f', f);
    nonNegativeInt(this.kind, 'm', m, 1);
  }

  begin(length: number): AggregationRound {
    return bufferedRound(this.kind, length, (c) => {
      const { meanDelta, selected } = multiKrum(c, this.f, this.m);
      return { meanDelta, metrics: { rejected: c.deltas.length - selected.length } };
    });
  }
}

/** Bulyan tolerating f Byzantine clients; a round with fewer than 4f + 3 updates cannot finish. Metrics: `rejected` by the Krum stage. */
export class BulyanAggregator implements Aggregator {
  readonly kind = 'bulyan';
  readonly needsIndividualUpdates = true;

  constructor(readonly f: number) {
    nonNegativeInt(this.kind, 'f', f);
  }

  begin(length: number): AggregationRound {
    return bufferedRound(
      this.kind,
      length,
      (c) => {
        const { meanDelta, selected } = bulyan(c, this.f);
        return { meanDelta, metrics: { rejected: c.deltas.length - selected.length } };
      },
      4 * this.f + 3,
    );
  }
}

/** Centered clipping with radius tau. Metrics: `clipped`, the updates farther than tau from the centre in the last iteration. */
export class CenteredClipAggregator implements Aggregator {
  readonly kind = 'centered-clip';
  readonly needsIndividualUpdates = true;

  constructor(
    readonly tau: number,
    readonly iterations = 3,
  ) {
    if (!(tau > 0 && Number.isFinite(tau))) throw new RangeError(`centered-clip tau must be a positive finite number, got ${tau}`);
    nonNegativeInt(this.kind, 'iterations', iterations, 1);
  }

  begin(length: number): AggregationRound {
    return bufferedRound(this.kind, length, (c) => {
      const { meanDelta, clipped } = centeredClip(c, this.tau, this.iterations);
      return { meanDelta, metrics: { clipped } };
    });
  }
}
