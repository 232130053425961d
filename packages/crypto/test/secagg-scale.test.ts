// SecAgg+ at n = 1,000: the degree sized for 30% dropout is O(log n), and over 1,000 seeded
// rosters (graph seeds and drop sets from a seeded PRNG) with a uniformly random 30% dropping
// before masked input, at least 99% of rounds can finish: every client, dropped or not, keeps
// t live share holders (itself and its neighbours), the condition unmasking needs.
import { createRng } from '@fedlink/core';
import { NeighbourGraph, defaultDegree, defaultThreshold, degreeForDropout } from '@fedlink/crypto';

const N = 1000;
const DROPOUT = 0.3;

/** Fraction of `rosters` seeded rounds of N clients with degree k that survive round(DROPOUT * N) uniform drops. */
function survivingFraction(k: number, rosters: number, seed: number): number {
  const ids = Array.from({ length: N }, (_, i) => `c${String(i).padStart(4, '0')}`);
  const index = new Map(ids.map((id, i) => [id, i]));
  const rng = createRng(seed);
  const drops = Math.round(DROPOUT * N);
  let survived = 0;
  const alive = new Uint8Array(N);
  const order = new Uint32Array(N);
  for (let r = 0; r < rosters; r++) {
    const graphSeed = Uint8Array.from({ length: 32 }, () => Math.floor(rng.next() * 256));
    const graph = new NeighbourGraph(ids, k, graphSeed);
    const t = defaultThreshold(graph.degree);
    // A uniformly random drop set: a seeded partial Fisher-Yates.
    for (let i = 0; i < N; i++) order[i] = i;
    alive.fill(1);
    for (let i = 0; i < drops; i++) {
      const j = i + Math.floor(rng.next() * (N - i));
      const tmp = order[i]!;
      order[i] = order[j]!;
      order[j] = tmp;
      alive[order[i]!] = 0;
    }
    let ok = true;
    for (let i = 0; i < N && ok; i++) {
      let holders = alive[i]!;
      for (const nb of graph.neighbours(ids[i]!)) holders += alive[index.get(nb)!]!;
      if (holders < t) ok = false;
    }
    if (ok) survived++;
  }
  return survived / rosters;
}

test('the degree for 30% dropout grows as log n (a bounded multiple of log2 n from 1,000 to 1,000,000 clients)', () => {
  const ratios = [1_000, 10_000, 100_000, 1_000_000].map((n) => degreeForDropout(n, DROPOUT) / Math.log2(n));
  expect(degreeForDropout(N, DROPOUT)).toBeLessThan(N / 5);
  // k / log2 n stays within a factor 1.5 over three orders of magnitude of n (O(n) would grow 1,000x).
  expect(Math.max(...ratios) / Math.min(...ratios)).toBeLessThan(1.5);
});

test('n = 1,000, 30% dropout: at least 99% of 1,000 seeded rosters survive with the degree sized for it', () => {
  const k = degreeForDropout(N, DROPOUT);
  expect(survivingFraction(k, 1000, 14)).toBeGreaterThanOrEqual(0.99);
});

test('the check can fail: with the default degree (2 ceil(log2 n)) 30% dropout aborts most rounds', () => {
  expect(survivingFraction(defaultDegree(N), 100, 15)).toBeLessThan(0.5);
});
