import { type Rng, shuffleInPlace } from './rng.js';

export interface SelectionPolicy {
  /** Share of available clients asked to train each round (0, 1]. */
  fraction: number;
  /** Fewest updates a round may close with; below it the round is abandoned. */
  minFit: number;
  /** Fewest connected clients before a round starts. */
  minAvailable: number;
  /** Extra share selected beyond the target, to absorb dropouts (0.3 = 30% more). */
  overSelect: number;
}

export interface Selection {
  /** Client ids asked to train, in a seeded random order. */
  selected: string[];
  /** Updates that close the round early. */
  target: number;
}

/** `target = max(ceil(fraction * available), minFit)`, then over-select by `overSelect`. */
export function selectClients(available: readonly string[], policy: SelectionPolicy, rng: Rng): Selection {
  const n = available.length;
  const target = Math.min(n, Math.max(Math.ceil(policy.fraction * n), policy.minFit));
  const count = Math.min(n, Math.ceil(target * (1 + policy.overSelect)));
  // Sort first so the result depends only on the set of ids and the seed, not on arrival order.
  const pool = [...available].sort();
  shuffleInPlace(pool, rng);
  return { selected: pool.slice(0, count), target };
}

export function validateSelectionPolicy(p: SelectionPolicy): void {
  if (!(p.fraction > 0 && p.fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${p.fraction}`);
  if (!(Number.isInteger(p.minFit) && p.minFit >= 1)) throw new RangeError(`minFit must be an integer >= 1, got ${p.minFit}`);
  if (!(Number.isInteger(p.minAvailable) && p.minAvailable >= p.minFit)) {
    throw new RangeError(`minAvailable must be an integer >= minFit (${p.minFit}), got ${p.minAvailable}`);
  }
  if (!(p.overSelect >= 0 && p.overSelect <= 10)) throw new RangeError(`overSelect must be in [0, 10], got ${p.overSelect}`);
}
