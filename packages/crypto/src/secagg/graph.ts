import nacl from 'tweetnacl';
import { transcript } from './transcript.js';

/**
 * The SecAgg+ communication graph: each client exchanges masks and shares only with its k
 * neighbours, so per-client cost is O(k) = O(log n) instead of O(n) (Bell et al. 2020).
 *
 * Like Bell et al., we use a Harary graph H(n, k) under a random relabelling: clients are placed
 * on a ring in a pseudo-random order and each is joined to the k/2 nearest on either side. That
 * is k-regular for even k < n - 1 (odd k is rounded up) and the complete graph for k >= n - 1.
 * The order is derived from the coordinator's public `graphSeed` with a SHA-512 counter-mode
 * generator, so every party computes the same graph without further messages. The seed is
 * public, not secret; what matters is that all parties derive the same graph (clients sign a
 * digest of the setup, seed included) and that it is fixed before anyone advertises keys. Ids are
 * sorted before shuffling so the roster order the coordinator sends has no influence.
 */
export class NeighbourGraph {
  /** Effective degree k (even, or n - 1 for the complete graph). */
  readonly degree: number;
  private readonly adj: ReadonlyMap<string, readonly string[]>;

  constructor(ids: readonly string[], requestedDegree: number, seed: Uint8Array) {
    const n = ids.length;
    if (new Set(ids).size !== n) throw new RangeError('graph ids must be distinct');
    this.degree = effectiveDegree(n, requestedDegree);
    const order = shuffled(ids, seed);
    const adj = new Map<string, string[]>();
    if (this.degree === n - 1) {
      for (const id of ids) adj.set(id, ids.filter((o) => o !== id));
    } else {
      const half = this.degree / 2;
      order.forEach((id, p) => {
        const list: string[] = [];
        for (let d = 1; d <= half; d++) list.push(order[(p + d) % n]!, order[(p - d + n) % n]!);
        adj.set(id, list);
      });
    }
    this.adj = adj;
  }

  /** The k neighbours of `id` (never `id` itself). */
  neighbours(id: string): readonly string[] {
    const list = this.adj.get(id);
    if (!list) throw new RangeError(`unknown client ${id}`);
    return list;
  }
}

/** k rounded up to even, capped at the complete graph. */
export function effectiveDegree(n: number, k: number): number {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`need at least 2 clients, got ${n}`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`degree must be a positive integer, got ${k}`);
  if (k >= n - 1) return n - 1;
  const even = k % 2 === 0 ? k : k + 1;
  return even >= n - 1 ? n - 1 : even;
}

/**
 * Default k: everyone up to 20 clients (costs are tiny and the complete graph tolerates the most
 * dropouts), then 2 * ceil(log2 n) as in Bell et al.'s O(log n) regime. Raise it for high
 * dropout rates: see docs/SECURITY.md for the abort probabilities.
 */
export function defaultDegree(n: number): number {
  if (n <= 20) return n - 1;
  return effectiveDegree(n, 2 * Math.ceil(Math.log2(n)));
}

/**
 * Default t: a strict majority of the k + 1 holders (the k neighbours and the client itself).
 * Each honest holder reveals, per client, either its self-mask share or its mask-key share,
 * never both; with 2t > k + 1 a coordinator that lies about who dropped can't collect t of each.
 */
export function defaultThreshold(degree: number): number {
  return Math.floor((degree + 1) / 2) + 1;
}

/**
 * Smallest degree k (>= the default, even, at most n - 1) for which a round with the majority
 * threshold survives a fraction `dropout` of clients dropping before masked input with probability
 * at least 1 - `maxAbortProbability`. A dropped client's mask key needs t shares from its k
 * neighbours; each survives independently with probability 1 - dropout in this bound (with a fixed
 * number of drops the true spread is smaller, so the bound is conservative), and a union bound
 * over the n clients gives P(abort) <= n * P[Binomial(k, 1 - dropout) < t].
 */
export function degreeForDropout(n: number, dropout: number, maxAbortProbability = 1e-3): number {
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`dropout must be in [0, 1), got ${dropout}`);
  for (let k = defaultDegree(n); k < n - 1; k = effectiveDegree(n, k + 2)) {
    if (n * binomialCdfBelow(k, 1 - dropout, defaultThreshold(k)) <= maxAbortProbability) return k;
  }
  return n - 1;
}

/** P[Binomial(trials, p) < below], summed in log space so large k does not underflow. */
function binomialCdfBelow(trials: number, p: number, below: number): number {
  if (p >= 1) return below > trials ? 1 : 0;
  let logC = 0; // log C(trials, i)
  let total = 0;
  for (let i = 0; i < below && i <= trials; i++) {
    if (i > 0) logC += Math.log(trials - i + 1) - Math.log(i);
    total += Math.exp(logC + i * Math.log(p) + (trials - i) * Math.log1p(-p));
  }
  return Math.min(1, total);
}

/** Fisher-Yates with uniform indices from SHA-512(domain, seed, counter) blocks. */
function shuffled(ids: readonly string[], seed: Uint8Array): string[] {
  const out = [...ids].sort();
  let counter = 0;
  let block: Uint8Array = new Uint8Array(0);
  let off = 0;
  const nextU32 = (): number => {
    if (off + 4 > block.length) {
      block = nacl.hash(transcript('graph', seed, counter++));
      off = 0;
    }
    const v = (block[off]! | (block[off + 1]! << 8) | (block[off + 2]! << 16) | (block[off + 3]! << 24)) >>> 0;
    off += 4;
    return v;
  };
  const uniform = (m: number): number => {
    const limit = Math.floor(0x1_0000_0000 / m) * m; // reject the top partial range: no modulo bias
    for (;;) {
      const v = nextU32();
      if (v < limit) return v % m;
    }
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = uniform(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
