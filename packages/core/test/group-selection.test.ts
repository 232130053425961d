import { createRng, selectClients, selectGroups } from '@fedlink/core';

// Delegated selection: a parent splits its leaf target over its edges by the clients each reported.

const policy = (fraction: number, minFit = 1, overSelect = 0) => ({ fraction, minFit, minAvailable: minFit, overSelect });

test('3 edges with 2/3/4 clients at fraction 0.5: target 5 leaves, split 1/2/2 by largest remainder', () => {
  const sizes: Record<string, number> = { a: 2, b: 3, c: 4 };
  const s = selectGroups(['a', 'b', 'c'], (id) => sizes[id]!, policy(0.5), createRng(7));
  expect(s.target).toBe(5);
  expect(s.leaves).toBe(5);
  // Quotas 10/9, 15/9, 20/9: floors 1, 1, 2; the one left goes to b (remainder 6/9).
  expect(Object.fromEntries(s.shares)).toEqual({ a: 1, b: 2, c: 2 });
  expect([...s.selected].sort()).toEqual(['a', 'b', 'c']);
});

test('every member gets at most its leaves; over-selection and minFit count leaves; an edge with no clients is not selected', () => {
  const sizes: Record<string, number> = { a: 1, b: 6, c: 0 };
  const s = selectGroups(['a', 'b', 'c'], (id) => sizes[id]!, policy(0.3, 2, 1), createRng(3));
  // L = 7: target max(ceil(2.1), 2) = 3, count ceil(3 * 2) = 6.
  expect([s.target, s.leaves]).toEqual([3, 6]);
  expect(Object.fromEntries(s.shares)).toEqual({ a: 1, b: 5 });
  expect(s.selected).not.toContain('c');
  const all = selectGroups(['a', 'b', 'c'], (id) => sizes[id]!, policy(1), createRng(3));
  expect(Object.fromEntries(all.shares)).toEqual({ a: 1, b: 6 });
});

test('a fixed share (an edge asked by its parent) is the target and the count, capped by the leaves there', () => {
  const ones = ['p', 'q', 'r', 's'];
  const s = selectGroups(ones, () => 1, policy(1, 4), createRng(11), 2);
  expect([s.target, s.leaves, s.selected.length]).toEqual([2, 2, 2]);
  expect(selectGroups(ones, () => 1, policy(1), createRng(11), 9).target).toBe(4);
});

test('members of one leaf each: exactly selectClients (same members, same order), for any seed and fraction', () => {
  const ids = Array.from({ length: 37 }, (_, i) => `c${i}`);
  for (const [seed, fraction, over] of [[1, 0.1, 0], [2, 0.5, 0.3], [3, 1, 0], [4, 0.27, 2]] as const) {
    const flat = selectClients(ids, policy(fraction, 1, over), createRng(seed));
    const groups = selectGroups(ids, () => 1, policy(fraction, 1, over), createRng(seed));
    expect(groups.selected).toEqual(flat.selected);
    expect(groups.target).toBe(flat.target);
  }
});

test('deterministic from the seed and independent of arrival order; exact for huge counts', () => {
  const sizes: Record<string, number> = { x: 5, y: 5, z: 5 };
  const one = selectGroups(['x', 'y', 'z'], (id) => sizes[id]!, policy(0.5), createRng(42));
  const two = selectGroups(['z', 'x', 'y'], (id) => sizes[id]!, policy(0.5), createRng(42));
  expect(Object.fromEntries(two.shares)).toEqual(Object.fromEntries(one.shares));
  expect([...one.shares.values()].reduce((a, b) => a + b, 0)).toBe(8);
  const big: Record<string, number> = { u: 999_999_937, v: 999_999_929 };
  const b = selectGroups(['u', 'v'], (id) => big[id]!, policy(1), createRng(1));
  expect(Object.fromEntries(b.shares)).toEqual(big);
  expect(() => selectGroups(['u'], () => -1, policy(1), createRng(1))).toThrow(RangeError);
});
