import { z } from 'zod';
import { type Rng, shuffleInPlace } from './rng.js';

/**
 * Who is asked to train each round. The one place its bounds are written: run settings, the
 * admin API's patch schema and `validateSelectionPolicy` all use it.
 */
export const SelectionPolicySchema = z.strictObject({
  /** Share of available clients asked to train each round (0, 1]. */
  fraction: z.number().gt(0).max(1),
  /** Fewest updates a round may close with; below it the round is abandoned. */
  minFit: z.number().int().min(1),
  /** Fewest connected clients before a round starts (at least minFit). */
  minAvailable: z.number().int().min(1),
  /** Extra share selected beyond the target, to absorb dropouts (0.3 = 30% more). */
  overSelect: z.number().min(0).max(10),
});
export type SelectionPolicy = z.infer<typeof SelectionPolicySchema>;

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

/** Throws RangeError naming the first bound a policy breaks. */
export function validateSelectionPolicy(p: SelectionPolicy): void {
  const r = SelectionPolicySchema.safeParse(p);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RangeError(`selection ${issue.path.map(String).join('.') || 'policy'}: ${issue.message}`);
  }
  if (p.minAvailable < p.minFit) throw new RangeError(`minAvailable must be at least minFit (${p.minFit}), got ${p.minAvailable}`);
}
