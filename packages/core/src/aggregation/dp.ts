import { z } from 'zod';
import { gaussianNoise } from '../privacy/noise.js';
import { l2Norm } from '../vector.js';
import { type AggregateResult, type AggregationRound, type Aggregator, AggregationError, RoundGuard, checkContribution } from './aggregator.js';
import { AggregatorWrapper, type WrapperState } from './wrappers.js';

/**
 * Differential privacy around a mean aggregator (DP-FedAvg, McMahan et al. 2018, "Learning
 * Differentially Private Recurrent Language Models"), in three modes:
 *
 * - central: the coordinator clips each client's delta to L2 norm C, sums the clipped deltas
 *   with equal weight (the sensitivity is per client, so example counts cannot weight them), adds
 *   Gaussian noise of std z*C to the sum once, from the CSPRNG, and divides by the number of
 *   contributors (treated as public, as TFF's DP mean does). Trusts the coordinator.
 * - distributed: clients clip, quantise and add their share of discrete Gaussian noise before
 *   SecAgg+ masking (packages/crypto secagg, packages/client), each with weight 1 (its count
 *   word is 1); this wrapper receives only the noised sum and passes it to the mean.
 * - local: every client clips and adds the full N(0, (zC)^2) to its own delta before sending; the
 *   wrapper passes what it gets to the mean (post-processing of private data). For clients that
 *   trust no one.
 *
 * Adaptive clipping (Andrew et al. 2021, "Differentially Private Learning with Adaptive
 * Clipping"), central mode only: each round the fraction of updates with norm <= C is counted,
 * noised with N(0, countStd^2) (in clients), and C moves geometrically towards the target
 * quantile: C <- C * exp(-learningRate * (noisedFraction - targetQuantile)). The clipped-count
 * query spends privacy too; as in their paper the delta noise is raised to
 * z_delta = (z^-2 - (2 countStd)^-2)^(-1/2), so the two queries together cost exactly what one
 * Gaussian query of multiplier z costs, and the accountant charges z.
 *
 * The noise multiplier is what the RDP accountant charges per round (with the round's sampling
 * rate); see privacy/rdp.ts. The current clipping bound is checkpointed as 'dp/clip'.
 */

export const AdaptiveClipSpecSchema = z.strictObject({
  targetQuantile: z.number().gt(0).lt(1),
  learningRate: z.number().positive().max(10),
  /** Std of the noise on the count of unclipped updates (Andrew et al. suggest m / 20). */
  countStd: z.number().positive(),
});

export const DpWrapperSpecSchema = z.strictObject({
  kind: z.literal('dp'),
  mode: z.enum(['central', 'distributed', 'local']),
  /** L2 clipping bound C of each client's delta (the initial bound when adaptive). */
  clip: z.number().positive().max(1e6),
  /** z: the noise std is z * C on the sum of the clipped deltas. */
  noiseMultiplier: z.number().positive().max(1e4),
  adaptive: AdaptiveClipSpecSchema.optional(),
});

export type DpWrapperSpec = z.infer<typeof DpWrapperSpecSchema>;
export type DpMode = DpWrapperSpec['mode'];

export class PrivacyConfigError extends RangeError {
  override readonly name = 'PrivacyConfigError';
}

/** Clips `delta` to L2 norm `bound` into a new Float64Array; returns it and whether it was scaled. */
export function clipToNorm(delta: ArrayLike<number>, bound: number): { clipped: Float64Array; norm: number; scaled: boolean } {
  const norm = l2Norm(delta);
  if (!Number.isFinite(norm)) throw new RangeError('cannot clip a delta with non-finite values');
  const scale = norm > bound ? bound / norm : 1;
  return { clipped: Float64Array.from(delta, (x) => x * scale), norm, scaled: scale < 1 };
}

export class DpAggregator extends AggregatorWrapper implements WrapperState {
  readonly kind = 'dp';
  readonly namespace = 'dp';
  private clipBound: number;

  constructor(
    inner: Aggregator,
    readonly spec: DpWrapperSpec,
  ) {
    super(inner);
    if (inner.needsIndividualUpdates && spec.mode === 'distributed') throw new PrivacyConfigError('distributed DP needs an inner aggregator that accepts sums');
    if (spec.adaptive && spec.mode !== 'central') throw new PrivacyConfigError('adaptive clipping is implemented for central DP only');
    if (spec.adaptive && !(2 * spec.adaptive.countStd > spec.noiseMultiplier)) {
      throw new PrivacyConfigError(`adaptive clipping: countStd must exceed noiseMultiplier / 2 (${spec.noiseMultiplier / 2}), got ${spec.adaptive.countStd}`);
    }
    this.clipBound = spec.clip;
  }

  /** The noise multiplier the accountant charges per round. */
  get noiseMultiplier(): number {
    return this.spec.noiseMultiplier;
  }

  get mode(): DpMode {
    return this.spec.mode;
  }

  /** The clipping bound of the next round (moves with adaptive clipping). */
  get clip(): number {
    return this.clipBound;
  }

  /** Central DP clips each update, so it needs them one by one; distributed DP takes the secure sum. */
  override get needsIndividualUpdates(): boolean {
    return this.spec.mode !== 'distributed';
  }

  /** Std of the noise on the sum of clipped deltas (raised when adaptive clipping spends some privacy). */
  get deltaNoiseStd(): number {
    const z = this.spec.noiseMultiplier;
    const a = this.spec.adaptive;
    const zDelta = a ? (z ** -2 - (2 * a.countStd) ** -2) ** -0.5 : z;
    return zDelta * this.clipBound;
  }

  override begin(length: number): AggregationRound {
    const round = this.inner.begin(length);
    const { mode, adaptive } = this.spec;
    const bound = this.clipBound;
    let clipped = 0;
    let unclipped = 0;
    let examples = 0;
    const guard = new RoundGuard();
    return {
      add: (delta, numExamples) => {
        guard.assertOpen();
        checkContribution(delta, numExamples, length);
        if (mode === 'central') {
          const c = clipToNorm(delta, bound);
          round.add(c.clipped, 1);
          if (c.scaled) clipped++;
          else unclipped++;
        } else {
          // distributed/local: the clients clipped and noised already; what they send is
          // post-processed freely (under distributed DP they quantise with weight 1).
          round.add(delta, numExamples);
        }
        examples += numExamples;
      },
      addWeightedSum: (weightedSum, totalExamples, count) => {
        guard.assertOpen();
        if (mode === 'central') throw new AggregationError('central DP needs individual updates: a pre-summed group cannot be clipped');
        // Under distributed DP every client quantised with weight 1: totalExamples is the count.
        round.addWeightedSum(weightedSum, totalExamples, count);
        examples += totalExamples;
      },
      get count() {
        return round.count;
      },
      get totalExamples() {
        return examples;
      },
      finish: (): AggregateResult => {
        guard.assertOpen();
        const result = round.finish();
        guard.close();
        const metrics: Record<string, number> = { ...result.metrics, dpClip: bound };
        if (mode === 'central') {
          const std = this.deltaNoiseStd / result.count; // noise zC on the sum, divided by the count
          const noise = gaussianNoise(result.meanDelta.length, std);
          const mean = result.meanDelta;
          for (let i = 0; i < mean.length; i++) mean[i] = mean[i]! + noise[i]!;
          noise.fill(0);
          metrics.clipped = clipped;
          if (adaptive) {
            const [countNoise] = gaussianNoise(1, adaptive.countStd);
            const fraction = (unclipped + countNoise!) / result.count;
            this.clipBound = bound * Math.exp(-adaptive.learningRate * (fraction - adaptive.targetQuantile));
            metrics.dpNextClip = this.clipBound;
          }
        }
        return { ...result, totalExamples: examples, metrics };
      },
    };
  }

  wrapperState(): Record<string, Float32Array> {
    return this.spec.adaptive ? { clip: Float32Array.of(this.clipBound) } : {};
  }

  restoreWrapperState(state: Record<string, Float32Array>): void {
    const names = Object.keys(state);
    if (names.some((n) => n !== 'clip')) throw new RangeError(`unknown dp state: ${names.join(', ')}`);
    const c = state.clip;
    if (c === undefined) {
      this.clipBound = this.spec.clip;
      return;
    }
    if (c.length !== 1 || !(c[0]! > 0)) throw new RangeError('dp/clip must hold one positive number');
    this.clipBound = c[0]!;
  }
}

/** The DP wrapper of an aggregator chain, if any (outermost first). */
export function findDp(aggregator: Aggregator): DpAggregator | undefined {
  for (let p: Aggregator | undefined = aggregator; p; p = p instanceof AggregatorWrapper ? p.inner : undefined) if (p instanceof DpAggregator) return p;
  return undefined;
}
