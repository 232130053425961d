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

/** A selection over groups of leaf clients (delegated selection in a tree). */
export interface GroupSelection extends Selection {
  /** Leaf clients each selected member is asked for: 1 for an ordinary client, an edge's share of its clients. */
  shares: ReadonlyMap<string, number>;
  /** Leaf clients asked in all (the sum of the shares). */
  leaves: number;
}

/**
 * Delegated selection: each available member stands for `leaves(id)` leaf clients (an ordinary
 * client 1, an edge the clients it reported). Over the L leaves, `target = min(L,
 * max(ceil(fraction L), minFit))` and `count = min(L, ceil(target (1 + overSelect)))`, the flat
 * rule; with `fixed` (an edge asked for its share by its parent) `target = count = min(fixed, L)`.
 * The count is split over the members in proportion to their leaves by largest remainder, in
 * integers, ties going to the earlier member of the seeded shuffle; no member gets more than its
 * leaves. When every member stands for one leaf this is exactly `selectClients` (the same members,
 * in the same order). The selected are the members with a share, in shuffled order.
 */
export function selectGroups(available: readonly string[], leaves: (id: string) => number, policy: SelectionPolicy, rng: Rng, fixed?: number): GroupSelection {
  const pool = [...available].sort();
  shuffleInPlace(pool, rng);
  const sizes = pool.map((id) => {
    const n = leaves(id);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`leaf count of ${id} must be a non-negative integer, got ${n}`);
    return n;
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const target = fixed !== undefined ? Math.min(fixed, total) : Math.min(total, Math.max(Math.ceil(policy.fraction * total), policy.minFit));
  const count = fixed !== undefined ? target : Math.min(total, Math.ceil(target * (1 + policy.overSelect)));
  const parts = sizes.map((n, i) => ({ i, ...quotient(count, n, total) }));
  let left = count - parts.reduce((a, p) => a + p.whole, 0);
  // Largest remainder first; Array.prototype.sort is stable, so equal remainders keep the shuffle's order.
  for (const p of [...parts].sort((a, b) => (b.rest > a.rest ? 1 : b.rest < a.rest ? -1 : 0))) {
    if (left <= 0) break;
    if (p.rest > 0) {
      p.whole++;
      left--;
    }
  }
  const shares = new Map<string, number>();
  for (const p of parts) if (p.whole > 0) shares.set(pool[p.i]!, p.whole);
  return { selected: pool.filter((id) => shares.has(id)), target, shares, leaves: count };
}

/** floor(count * n / total) and its remainder, exact in integers (BigInt once the product passes 2^53). */
function quotient(count: number, n: number, total: number): { whole: number; rest: number | bigint } {
  if (total === 0) return { whole: 0, rest: 0 };
  const product = count * n;
  if (Number.isSafeInteger(product)) return { whole: Math.floor(product / total), rest: product % total };
  const big = BigInt(count) * BigInt(n);
  return { whole: Number(big / BigInt(total)), rest: big % BigInt(total) };
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
