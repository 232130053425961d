import { DEFAULT_ORDERS, type DpAggregator, type SelectionPolicy, type Strategy, computeRdp, epsilonFromRdp, findDp, selectClients, createRng } from '@fedlink/core';
import type { RoundPrivacy } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { RoundRecord } from '../state/run-history.js';

/**
 * The run's privacy budget: an RDP accountant (core/privacy/rdp.ts) charged once per completed
 * round with the sampling rate the selection actually used and the noise that round actually
 * carried, and the target it must not exceed.
 *
 * - Sampling rate: selected / connected at selection time (over-selected clients included: any of
 *   them may contribute). The selection draws a fixed-size subset, which the accountant treats as
 *   Poisson sampling at that rate; this is the usual approximation (McMahan et al. 2018 and TFF do
 *   the same), not a proof for sampling without replacement.
 * - Central DP: the noise multiplier z of the spec.
 * - Distributed DP: the clients' noise shares are sized so that the expected number of
 *   survivors, ceil(selected * (1 - secaggExpectedDropout)), carry exactly z*C; the accountant then
 *   charges the survivors' actual noise, z * sqrt(survivors / expected) (more noise when fewer
 *   dropped than expected, less when more did). The check before a round assumes the worst case
 *   that can still complete, min(minFit, expected) survivors, so a round that would pass the
 *   target is never started.
 * - Local DP: each update is itself Gaussian with multiplier z, released to the coordinator
 *   without amplification by sampling (the coordinator knows who was selected): q = 1 per round.
 * Abandoned rounds release no model and are not charged. (Under distributed DP an abandoned
 * round may still have revealed a noised sum of the survivors to the coordinator; such rounds are
 * charged too, see charge().)
 */

/** The privacy settings of a run (delta, and optionally a target epsilon that stops the run). */
export interface PrivacySettings {
  delta: number;
  targetEpsilon?: number;
}

export const DEFAULT_DELTA = 1e-5;

/** The run's DP wrapper and its privacy settings (delta defaults to 1e-5), or undefined without DP. */
export function privacyOf(strategy: Strategy, settings: Pick<RunSettings, 'privacy'>): { dp: DpAggregator; settings: PrivacySettings } | undefined {
  const dp = findDp(strategy.aggregator);
  if (!dp) return undefined;
  return { dp, settings: { delta: settings.privacy?.delta ?? DEFAULT_DELTA, ...(settings.privacy?.targetEpsilon !== undefined ? { targetEpsilon: settings.privacy.targetEpsilon } : {}) } };
}

/** Shares the setup is sized for: the expected survivors of `selected`. */
export function expectedSurvivors(selected: number, expectedDropout: number | undefined): number {
  return Math.max(1, Math.ceil(selected * (1 - (expectedDropout ?? 0))));
}

export class PrivacyBudget {
  private readonly rdp: Float64Array;
  private roundsCharged = 0;

  constructor(
    readonly dp: DpAggregator,
    readonly settings: PrivacySettings,
    readonly orders: readonly number[] = DEFAULT_ORDERS,
  ) {
    this.rdp = new Float64Array(orders.length);
  }

  get rounds(): number {
    return this.roundsCharged;
  }

  /** Epsilon spent so far (0 before the first round). */
  spent(): { epsilon: number; order: number } {
    return this.roundsCharged === 0 ? { epsilon: 0, order: NaN } : epsilonFromRdp(this.orders, this.rdp, this.settings.delta);
  }

  /** The sampling rate and noise multiplier to charge for a round. */
  costOf(selected: number, available: number, survivors: number, expected: number): { samplingRate: number; noiseMultiplier: number } {
    const z = this.dp.noiseMultiplier;
    switch (this.dp.mode) {
      case 'central':
        return { samplingRate: selected / available, noiseMultiplier: z };
      case 'distributed':
        return { samplingRate: selected / available, noiseMultiplier: z * Math.sqrt(survivors / expected) };
      case 'local':
        return { samplingRate: 1, noiseMultiplier: z };
      default:
        throw new RangeError(`unknown DP mode ${String(this.dp.mode satisfies never)}`);
    }
  }

  /** Epsilon after one more round of this cost (the budget is unchanged). */
  peek(cost: { samplingRate: number; noiseMultiplier: number }): { epsilon: number; order: number } {
    const step = computeRdp(cost.samplingRate, cost.noiseMultiplier, 1, this.orders);
    return epsilonFromRdp(this.orders, step.map((r, i) => r + this.rdp[i]!), this.settings.delta);
  }

  /** Whether a round of this cost would take epsilon past the target. */
  wouldExceed(cost: { samplingRate: number; noiseMultiplier: number }): boolean {
    return this.settings.targetEpsilon !== undefined && this.peek(cost).epsilon > this.settings.targetEpsilon;
  }

  /** Charges a round; returns what the round record carries. */
  charge(cost: { samplingRate: number; noiseMultiplier: number }, clip: number = this.dp.clip): RoundPrivacy {
    const step = computeRdp(cost.samplingRate, cost.noiseMultiplier, 1, this.orders);
    for (let i = 0; i < step.length; i++) this.rdp[i]! += step[i]!;
    this.roundsCharged++;
    const { epsilon, order } = this.spent();
    return { mode: this.dp.mode, epsilon, delta: this.settings.delta, order, samplingRate: cost.samplingRate, noiseMultiplier: cost.noiseMultiplier, clip };
  }

  /** Re-charges the rounds of a resumed run from their records. */
  replay(records: readonly Pick<RoundRecord, 'privacy'>[]): void {
    for (const r of records) if (r.privacy) this.charge(r.privacy, r.privacy.clip);
  }
}

/**
 * The schedule's epsilon: `rounds` rounds at the sampling rate the selection uses with
 * `minAvailable` clients connected and the least noise a round can complete with. Used to refuse
 * a run whose schedule exceeds the target. Not an upper bound: the selection rounds up, so more
 * clients can mean a higher rate (fraction 0.5: 1 of 2, 2 of 3); the check before each round
 * (RoundEngine) is what keeps epsilon within the target.
 */
export function scheduledEpsilon(settings: Pick<RunSettings, 'rounds' | 'selection' | 'secaggExpectedDropout'>, budget: PrivacyBudget): number {
  const n = settings.selection.minAvailable;
  const { selected } = selectClients(Array.from({ length: n }, (_, i) => String(i)), settings.selection as SelectionPolicy, createRng(1));
  const expected = expectedSurvivors(selected.length, settings.secaggExpectedDropout);
  const worst = Math.min(settings.selection.minFit, expected);
  const cost = budget.costOf(selected.length, n, worst, expected);
  const step = computeRdp(cost.samplingRate, cost.noiseMultiplier, settings.rounds, budget.orders);
  return epsilonFromRdp(budget.orders, step, budget.settings.delta).epsilon;
}

/** Refuses privacy settings that cannot work, and a schedule that would exceed the target; message without prefix. */
export function privacyProblem(settings: RunSettings, strategy: Strategy): string | undefined {
  const found = privacyOf(strategy, settings);
  if (!found) return settings.privacy ? 'delta / target epsilon need a strategy with a dp wrapper' : undefined;
  const { dp, settings: p } = found;
  if (!(p.delta > 0 && p.delta < 1)) return `delta must be in (0, 1), got ${p.delta}`;
  if (p.targetEpsilon !== undefined && !(p.targetEpsilon > 0 && Number.isFinite(p.targetEpsilon))) return `target epsilon must be a finite number > 0, got ${p.targetEpsilon}`;
  if (dp.mode === 'distributed' && !settings.secureAggregation) return 'distributed DP needs secure aggregation (each client adds only a share of the noise)';
  if (p.targetEpsilon !== undefined) {
    const eps = scheduledEpsilon(settings, new PrivacyBudget(dp, p));
    if (eps > p.targetEpsilon) {
      return `the schedule (${settings.rounds} rounds, noise multiplier ${dp.noiseMultiplier}) would spend epsilon ${eps.toFixed(3)} at delta ${p.delta}, above the target ${p.targetEpsilon}`;
    }
  }
  return undefined;
}
