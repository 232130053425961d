import { type Rng, createRng, randDirichlet, shuffleInPlace } from './rng.js';

/**
 * Splitting a labelled dataset across simulated clients. Each function returns, per client, the
 * indices of its examples; the same seed always gives the same split.
 */
export type PartitionSpec = { kind: 'iid' } | { kind: 'shards'; shardsPerClient: number } | { kind: 'dirichlet'; alpha: number };

/** Parses `iid`, `shards`, `shards:<k>`, `dirichlet:<alpha>`. */
export function parsePartitionSpec(text: string): PartitionSpec {
  const [kind, arg, ...rest] = text.split(':');
  if (rest.length === 0) {
    if (kind === 'iid' && arg === undefined) return { kind: 'iid' };
    if (kind === 'shards') {
      const k = arg === undefined ? 2 : Number(arg);
      if (Number.isInteger(k) && k >= 1) return { kind: 'shards', shardsPerClient: k };
    }
    if (kind === 'dirichlet' && arg !== undefined) {
      const alpha = Number(arg);
      if (Number.isFinite(alpha) && alpha > 0) return { kind: 'dirichlet', alpha };
    }
  }
  throw new RangeError(`invalid partition '${text}': use iid, shards[:k] or dirichlet:<alpha> (alpha > 0)`);
}

export function partition(labels: ArrayLike<number>, numClients: number, spec: PartitionSpec, seed: number): Int32Array[] {
  if (!(Number.isInteger(numClients) && numClients >= 1)) throw new RangeError(`numClients must be >= 1, got ${numClients}`);
  if (labels.length < numClients) throw new RangeError(`cannot split ${labels.length} examples across ${numClients} clients`);
  const rng = createRng(seed);
  switch (spec.kind) {
    case 'iid':
      return partitionIid(labels.length, numClients, rng);
    case 'shards':
      return partitionShards(labels, numClients, spec.shardsPerClient, rng);
    case 'dirichlet':
      return partitionDirichlet(labels, numClients, spec.alpha, rng);
  }
}

/** Shuffle, then deal out contiguous equal parts (sizes differ by at most one). */
export function partitionIid(n: number, numClients: number, rng: Rng): Int32Array[] {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(idx, rng);
  return splitEvenly(idx, numClients);
}

/**
 * The FedAvg paper's pathological non-IID split: sort by label, cut into
 * `numClients * shardsPerClient` shards, give each client `shardsPerClient` random shards.
 */
export function partitionShards(labels: ArrayLike<number>, numClients: number, shardsPerClient: number, rng: Rng): Int32Array[] {
  const n = labels.length;
  const numShards = numClients * shardsPerClient;
  if (numShards > n) throw new RangeError(`${numShards} shards need at least as many examples, have ${n}`);
  // Stable sort by label, ties broken by a seeded shuffle so shards are not in file order.
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(idx, rng);
  const sorted = Array.from(idx).sort((a, b) => labels[a]! - labels[b]!);
  const shards = splitEvenly(Int32Array.from(sorted), numShards);
  const order = Array.from({ length: numShards }, (_, i) => i);
  shuffleInPlace(order, rng);
  return Array.from({ length: numClients }, (_, c) => {
    const parts = order.slice(c * shardsPerClient, (c + 1) * shardsPerClient).map((s) => shards[s]!);
    return concat(parts);
  });
}

/**
 * Label skew by Dirichlet(alpha) (Hsu et al. 2019): for each class, client shares are drawn from
 * Dir(alpha). Small alpha is very skewed; large alpha tends to IID. Redraws (up to 100 times)
 * until every client holds at least one example.
 */
export function partitionDirichlet(labels: ArrayLike<number>, numClients: number, alpha: number, rng: Rng): Int32Array[] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!byClass.has(y)) byClass.set(y, []);
    byClass.get(y)!.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  for (let attempt = 0; attempt < 100; attempt++) {
    const buckets: number[][] = Array.from({ length: numClients }, () => []);
    for (const y of classes) {
      const members = byClass.get(y)!.slice();
      shuffleInPlace(members, rng);
      const p = randDirichlet(rng, alpha, numClients);
      // Cumulative cut points; the last client takes the remainder so nothing is lost.
      let start = 0;
      let cum = 0;
      for (let c = 0; c < numClients; c++) {
        cum += p[c]!;
        const end = c === numClients - 1 ? members.length : Math.min(members.length, Math.round(cum * members.length));
        for (let k = start; k < end; k++) buckets[c]!.push(members[k]!);
        start = Math.max(start, end);
      }
    }
    if (buckets.every((b) => b.length > 0)) {
      return buckets.map((b) => {
        const arr = Int32Array.from(b);
        shuffleInPlace(arr, rng);
        return arr;
      });
    }
  }
  throw new RangeError(`dirichlet:${alpha} left a client with no examples in 100 draws; use more data, fewer clients or a larger alpha`);
}

function splitEvenly(idx: Int32Array, parts: number): Int32Array[] {
  const base = Math.floor(idx.length / parts);
  const extra = idx.length % parts;
  const out: Int32Array[] = [];
  let off = 0;
  for (let p = 0; p < parts; p++) {
    const size = base + (p < extra ? 1 : 0);
    out.push(idx.slice(off, off + size));
    off += size;
  }
  return out;
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Per-client label histogram, for logs and results files. */
export function labelHistogram(labels: ArrayLike<number>, indices: ArrayLike<number>, numClasses: number): number[] {
  const h = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < indices.length; i++) h[labels[indices[i]!]!]!++;
  return h;
}


