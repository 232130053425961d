import { Strategy, StreamingWeightedSum, createRng, presetSpec, selectClients, firstNonFinite, l2Norm } from '@fedlink/core';

test('streaming weighted sum equals the naive weighted mean, in any order, and merges', () => {
  const rng = createRng(3);
  const vecs = Array.from({ length: 7 }, () => Float32Array.from({ length: 1000 }, () => rng.next() - 0.5));
  const weights = [1, 5, 10, 100, 3, 7, 600];
  const naive = new Float64Array(1000);
  const total = weights.reduce((a, b) => a + b, 0);
  vecs.forEach((v, i) => v.forEach((x, j) => (naive[j]! += (weights[i]! * x) / total)));
  const forward = new StreamingWeightedSum(1000);
  vecs.forEach((v, i) => forward.add(v, weights[i]!));
  const a = new StreamingWeightedSum(1000);
  const b = new StreamingWeightedSum(1000);
  for (let i = vecs.length - 1; i >= 0; i--) (i % 2 ? a : b).add(vecs[i]!, weights[i]!);
  a.merge(b);
  for (const s of [forward, a]) {
    const m = s.mean();
    expect(s.count).toBe(7);
    expect(s.totalWeight).toBe(total);
    m.forEach((x, j) => expect(Math.abs(x - naive[j]!)).toBeLessThan(1e-7));
  }
  expect(() => forward.add(new Float32Array(3), 1)).toThrow(/lengths differ/);
  expect(() => forward.add(vecs[0]!, 0)).toThrow(/weight/);
  expect(() => new StreamingWeightedSum(3).mean()).toThrow(/empty/);
});

test('FedAvg adds the example-weighted mean delta; a pre-summed group counts like its members', () => {
  const global = Float32Array.from([1, 2, 3]);
  const agg = Strategy.fromSpec(presetSpec('fedavg')).beginRound(global);
  agg.add(Float32Array.from([1, 0, 0]), 1);
  agg.add(Float32Array.from([0, 3, 0]), 3);
  // Two more clients summed elsewhere: 2*[0,0,1] + 2*[0,0,2] = [0,0,6] over 4 examples.
  agg.addWeightedSum(Float64Array.from([0, 0, 6]), 4, 2);
  expect(agg.count).toBe(4);
  expect(agg.totalExamples).toBe(8);
  const next = agg.finish().weights;
  expect(Array.from(next)).toEqual([1 + 1 / 8, 2 + 9 / 8, 3 + 6 / 8].map(Math.fround));
  expect(Array.from(global)).toEqual([1, 2, 3]);
});

test('FedAvgM and FedAdam follow their update rules across rounds', () => {
  const g0 = Float32Array.from([0, 0]);
  const m = Strategy.fromSpec({ ...presetSpec('fedavgm'), optimizer: { kind: 'momentum', lr: 1, momentum: 0.5 } });
  let a = m.beginRound(g0);
  a.add(Float32Array.from([1, -1]), 1);
  const g1 = a.finish().weights; // v = d
  expect(Array.from(g1)).toEqual([1, -1]);
  a = m.beginRound(g1);
  a.add(Float32Array.from([1, -1]), 1);
  expect(Array.from(a.finish().weights)).toEqual([1 + 1.5, -1 - 1.5]); // v = 0.5 v + d

  const adam = Strategy.fromSpec({ ...presetSpec('fedadam'), optimizer: { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
  const b = adam.beginRound(g0);
  b.add(Float32Array.from([2, 0]), 1);
  const out = b.finish().weights;
  const mm = 0.1 * 2;
  const vv = 0.01 * 4;
  expect(out[0]).toBeCloseTo((0.1 * mm) / (Math.sqrt(vv) + 1e-3), 6);
  expect(out[1]).toBe(0);
});

test('selection: max(ceil(fraction*n), minFit) plus over-selection, seeded and order-independent', () => {
  const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const policy = { fraction: 0.25, minFit: 3, minAvailable: 3, overSelect: 0.3 };
  const s = selectClients(ids, policy, createRng(1));
  expect(s.target).toBe(5);
  expect(s.selected).toHaveLength(7);
  expect(new Set(s.selected).size).toBe(7);
  expect(selectClients([...ids].reverse(), policy, createRng(1)).selected).toEqual(s.selected);
  expect(selectClients(ids, policy, createRng(2)).selected).not.toEqual(s.selected);
  expect(selectClients(ids.slice(0, 2), { ...policy, minFit: 5 }, createRng(1)).target).toBe(2);
  expect(selectClients(ids, { ...policy, fraction: 0.01 }, createRng(1)).target).toBe(3);
});

test('vector checks find non-finite values and norms', () => {
  expect(firstNonFinite(Float32Array.from([0, 1, NaN]))).toBe(2);
  expect(firstNonFinite(Float32Array.from([Infinity]))).toBe(0);
  expect(firstNonFinite(Float32Array.from([1e38, -1e38]))).toBe(-1);
  // The float32 path reads bits: every NaN payload and sign, both infinities; the largest finite, -0 and subnormals pass.
  const bits = Uint32Array.from([0x7f7fffff, 0x80000000, 0x00000001, 0x807fffff, 0xff800000, 0x7f800001, 0xffc00000, 0x7fffffff]);
  const f = new Float32Array(bits.buffer);
  expect(firstNonFinite(f)).toBe(4);
  expect([5, 6, 7].map((i) => firstNonFinite(f.subarray(i)))).toEqual([0, 0, 0]);
  expect(firstNonFinite(f.subarray(0, 4))).toBe(-1);
  expect(firstNonFinite(Float32Array.from([1, 2, -Infinity]).subarray(1))).toBe(1);
  expect(firstNonFinite([1, NaN])).toBe(1);
  expect(l2Norm([3, 4])).toBe(5);
});

test('firstNonFinite finds the first bad float32 in any block of its scan, at any offset, or none', () => {
  // The scan sums x * 0 over blocks of 4,096 in four lanes; the length leaves a ragged last block and a tail of 3.
  const n = 3 * 4096 + 7;
  const rng = createRng(11);
  const v = Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 1e30);
  v[17] = 3.4028234663852886e38; // the largest finite float32
  v[18] = -0;
  expect(firstNonFinite(v)).toBe(-1);
  for (const at of [0, 1, 2, 3, 4095, 4096, 4097, 8191, 2 * 4096 + 5, n - 4, n - 3, n - 1]) {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = v.slice();
      w[at] = bad;
      expect(firstNonFinite(w)).toBe(at);
      // A later bad value in the same or a later block does not hide the first.
      if (at + 5 < n) w[at + 5] = NaN;
      if (at + 5000 < n) w[at + 5000] = Infinity;
      expect(firstNonFinite(w)).toBe(at);
      // A view that starts after it finds the next one, counted from the view's start.
      if (at + 5 < n) expect(firstNonFinite(w.subarray(at + 1))).toBe(4);
    }
  }
});

test('StreamingWeightedSum.add gives the same float64 bits as one plain pass, for every length', () => {
  const rng = createRng(5);
  for (const length of [1, 2, 3, 4, 5, 7, 8, 1001]) {
    const vecs = Array.from({ length: 3 }, () => Float32Array.from({ length }, () => rng.next() - 0.5));
    const weights = [3, 0.25, 1e-3];
    const plain = new Float64Array(length);
    vecs.forEach((v, k) => v.forEach((x, i) => (plain[i]! += weights[k]! * x)));
    const s = new StreamingWeightedSum(length);
    vecs.forEach((v, k) => s.add(v, weights[k]!));
    expect(Array.from(new Uint32Array(s.total().buffer))).toEqual(Array.from(new Uint32Array(plain.buffer)));
  }
});
