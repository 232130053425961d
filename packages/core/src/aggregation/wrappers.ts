import { l2Norm } from '../vector.js';
import { type AggregateResult, type AggregationRound, type Aggregator, AggregationError } from './aggregator.js';
import type { ServerOptimizer } from './server-optimizer.js';

/**
 * Wrappers around either half of a strategy: an aggregator wrapper sees every update before the
 * reduction (clipping, adaptive clipping), an optimizer wrapper sees the mean delta before the
 * step (DP noise). Each is itself an Aggregator / ServerOptimizer, so wrappers nest.
 *
 * A wrapper that must carry state across rounds (an adaptive clipping bound, a noise RNG)
 * implements WrapperState as well: the strategy checkpoints it as '<namespace>/<name>', apart from
 * the optimizer's own state ('optimizer/<name>'), so wrapping never renames the optimizer's state.
 */

/** Checkpointable state a wrapper keeps for itself, under its own namespace. */
export interface WrapperState {
  /** Checkpoint namespace, unique within a strategy: no '/', not 'optimizer'. */
  readonly namespace: string;
  /** Live arrays by name (callers copy). Empty when there is none (yet). */
  wrapperState(): Record<string, Float32Array>;
  /** Restores what wrapperState() returned; {} resets. Throws RangeError on unknown names or bad lengths. */
  restoreWrapperState(state: Record<string, Float32Array>): void;
}

export function hasWrapperState<T extends object>(part: T): part is T & WrapperState {
  const p = part as Partial<WrapperState>;
  return typeof p.namespace === 'string' && typeof p.wrapperState === 'function' && typeof p.restoreWrapperState === 'function';
}

/** Base of aggregator wrappers: delegates everything to `inner` until a subclass overrides it. */
export abstract class AggregatorWrapper implements Aggregator {
  abstract readonly kind: string;

  constructor(readonly inner: Aggregator) {}

  get needsIndividualUpdates(): boolean {
    return this.inner.needsIndividualUpdates;
  }

  begin(length: number): AggregationRound {
    return this.inner.begin(length);
  }
}

/**
 * Base of server-optimizer wrappers: delegates step/state/restore to `inner`. `state()` and
 * `restore()` stay the inner optimizer's (they are what checkpoints call the optimizer's state);
 * a wrapper's own state goes through WrapperState.
 */
export abstract class OptimizerWrapper implements ServerOptimizer {
  abstract readonly kind: string;

  constructor(readonly inner: ServerOptimizer) {}

  step(global: Float32Array, meanDelta: Float32Array): Float32Array {
    return this.inner.step(global, meanDelta);
  }

  state(): Record<string, Float32Array> {
    return this.inner.state();
  }

  restore(state: Record<string, Float32Array>): void {
    this.inner.restore(state);
  }
}

/**
 * Norm clipping: each client's delta is scaled down to an L2 norm of at most `maxNorm` before it
 * reaches the inner aggregator (deltas within the bound pass through untouched, so a bound that
 * clips nothing changes nothing). A pre-summed group cannot be clipped, hence
 * needsIndividualUpdates. The result's metrics add `clipped`, the number of updates scaled.
 */
export class ClippedAggregator extends AggregatorWrapper {
  readonly kind = 'clip';

  constructor(
    inner: Aggregator,
    readonly maxNorm: number,
  ) {
    super(inner);
    if (!(maxNorm > 0 && Number.isFinite(maxNorm))) throw new RangeError(`clip maxNorm must be a positive finite number, got ${maxNorm}`);
  }

  override get needsIndividualUpdates(): boolean {
    return true;
  }

  override begin(length: number): AggregationRound {
    const round = this.inner.begin(length);
    const maxNorm = this.maxNorm;
    let clipped = 0;
    return {
      add: (delta, numExamples, info) => {
        const norm = l2Norm(delta);
        if (!Number.isFinite(norm)) throw new RangeError('cannot clip a delta with non-finite values');
        if (norm > maxNorm) {
          const scale = maxNorm / norm;
          round.add(Float64Array.from(delta, (x) => x * scale), numExamples, info);
          clipped++;
        } else {
          round.add(delta, numExamples, info);
        }
      },
      addWeightedSum: () => {
        throw new AggregationError('clip needs individual updates: a pre-summed group cannot be clipped');
      },
      get count() {
        return round.count;
      },
      get totalExamples() {
        return round.totalExamples;
      },
      finish: (): AggregateResult => {
        const result = round.finish();
        return { ...result, metrics: { ...result.metrics, clipped } };
      },
    };
  }
}
