import { StreamingWeightedSum } from '../weighted-sum.js';

/**
 * The first half of a strategy: reducing the clients' contributions of one round to a single
 * mean delta. It knows nothing about server optimizers (see server-optimizer.ts), so a reduction
 * can be swapped (median, Krum) or wrapped (clipping, see wrappers.ts) without touching the step.
 */

/** What a round of aggregation produced. */
export interface AggregateResult {
  /** The reduced delta (for the weighted mean: sum_i n_i d_i / sum_i n_i). */
  meanDelta: Float32Array;
  /** Clients that contributed (a pre-summed group counts as its members). */
  count: number;
  totalExamples: number;
  /** Figures for dashboards and logs (e.g. `clipped`); empty when there is nothing to report. */
  metrics: Record<string, number>;
}

/** What else a client reported with its update, for aggregators that use it (QFedAvg: the training loss). */
export interface UpdateInfo {
  /** The client's local training loss this round. */
  loss?: number;
}

/**
 * One round's accumulator; single-use: after `finish()` every call throws AggregationError.
 * Bad input (length mismatch, a weight that is not a positive finite number) throws RangeError.
 */
export interface AggregationRound {
  /** One client's delta (local - global), weighted by its example count; `info` what else it reported. */
  add(delta: ArrayLike<number>, numExamples: number, info?: UpdateInfo): void;
  /** A group summed elsewhere (secure aggregation, edge partial sums): sum_i n_i d_i over `count` clients. Throws AggregationError when the aggregator needs individual updates. */
  addWeightedSum(weightedSum: ArrayLike<number>, totalExamples: number, count: number): void;
  readonly count: number;
  readonly totalExamples: number;
  /** Throws AggregationError when nothing was added. */
  finish(): AggregateResult;
}

export interface Aggregator {
  readonly kind: string;
  /** true: needs each client's update (a median); false: accepts pre-summed groups (weighted mean, SecAgg sums, edge partial sums). */
  readonly needsIndividualUpdates: boolean;
  /** Starts a round over vectors of `length` entries. */
  begin(length: number): AggregationRound;
}

/** A round that cannot be reduced as asked: nothing added, a sum given to an aggregator that needs individual updates, use after finish. */
export class AggregationError extends RangeError {
  override readonly name = 'AggregationError';
}

/** An aggregation round's once-only finish: each call asserts the round is open; finish() closes it. */
export class RoundGuard {
  private finished = false;

  assertOpen(): void {
    if (this.finished) throw new AggregationError('aggregation round already finished');
  }

  close(): void {
    this.finished = true;
  }
}

/** Checks one update before it touches a round: the round's vector length and a positive finite weight (RangeError). */
export function checkContribution(delta: ArrayLike<number>, numExamples: number, length: number): void {
  if (delta.length !== length) throw new RangeError(`vector lengths differ: ${delta.length} vs ${length}`);
  if (!(numExamples > 0) || !Number.isFinite(numExamples)) throw new RangeError(`weight must be a positive finite number, got ${numExamples}`);
}

/**
 * The FedAvg reduction: the example-weighted mean of the deltas, streamed in float64 by
 * StreamingWeightedSum (memory O(model), order-independent up to the final float32 rounding).
 * Accepts pre-summed groups, so secure aggregation and edge partial sums feed it directly.
 */
export class WeightedMeanAggregator implements Aggregator {
  readonly kind = 'mean';
  readonly needsIndividualUpdates = false;

  begin(length: number): AggregationRound {
    const sum = new StreamingWeightedSum(length);
    const guard = new RoundGuard();
    return {
      add: (delta, numExamples) => {
        guard.assertOpen();
        sum.add(delta, numExamples);
      },
      addWeightedSum: (weightedSum, totalExamples, count) => {
        guard.assertOpen();
        sum.addWeightedSum(weightedSum, totalExamples, count);
      },
      get count() {
        return sum.count;
      },
      get totalExamples() {
        return sum.totalWeight;
      },
      finish: () => {
        guard.assertOpen();
        if (sum.count === 0) throw new AggregationError('nothing to aggregate: no update was added');
        guard.close();
        return { meanDelta: sum.mean(), count: sum.count, totalExamples: sum.totalWeight, metrics: {} };
      },
    };
  }
}
