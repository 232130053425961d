import { parsePartitionSpec, partition, labelHistogram } from '@fedlink/core';

const labels = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7) % 10);

function checkCover(parts: Int32Array[], n: number) {
  const seen = new Uint8Array(n);
  for (const p of parts) for (const i of p) seen[i]!++;
  expect(Array.from(seen).every((c) => c === 1)).toBe(true);
}

test('iid: equal sizes, disjoint, covering, deterministic by seed', () => {
  const parts = partition(labels, 7, { kind: 'iid' }, 5);
  checkCover(parts, labels.length);
  const sizes = parts.map((p) => p.length);
  expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  expect(partition(labels, 7, { kind: 'iid' }, 5)).toEqual(parts);
  expect(partition(labels, 7, { kind: 'iid' }, 6)).not.toEqual(parts);
});

test('shards: each client sees at most 2 labels per shard pair (pathological non-IID)', () => {
  const parts = partition(labels, 10, { kind: 'shards', shardsPerClient: 2 }, 1);
  checkCover(parts, labels.length);
  for (const p of parts) {
    const h = labelHistogram(labels, p, 10);
    expect(h.filter((c) => c > 0).length).toBeLessThanOrEqual(4); // 2 shards, each at most 2 labels at a boundary
  }
  const labelsPerClient = parts.map((p) => labelHistogram(labels, p, 10).filter((c) => c > 0).length);
  expect(labelsPerClient.reduce((a, b) => a + b, 0) / parts.length).toBeLessThanOrEqual(2.5);
});

test('dirichlet: small alpha skews labels, large alpha is near uniform; nobody is left empty', () => {
  const skew = (alpha: number) => {
    const parts = partition(labels, 10, { kind: 'dirichlet', alpha }, 3);
    checkCover(parts, labels.length);
    expect(parts.every((p) => p.length > 0)).toBe(true);
    // Mean share of each client's most common label.
    return parts.reduce((s, p) => s + Math.max(...labelHistogram(labels, p, 10)) / p.length, 0) / parts.length;
  };
  expect(skew(0.1)).toBeGreaterThan(0.5);
  expect(skew(1000)).toBeLessThan(0.2);
});

test('partition specs parse, and bad ones name the problem', () => {
  expect(parsePartitionSpec('iid')).toEqual({ kind: 'iid' });
  expect(parsePartitionSpec('shards')).toEqual({ kind: 'shards', shardsPerClient: 2 });
  expect(parsePartitionSpec('dirichlet:0.5')).toEqual({ kind: 'dirichlet', alpha: 0.5 });
  for (const bad of ['', 'dirichlet', 'dirichlet:0', 'dirichlet:x', 'iid:3', 'shards:0', 'noniid']) expect(() => parsePartitionSpec(bad)).toThrow(/invalid partition/);
  expect(() => partition(labels.subarray(0, 3), 5, { kind: 'iid' }, 1)).toThrow(/cannot split/);
});
