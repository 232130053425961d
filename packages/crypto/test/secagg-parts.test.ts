import {
  clientIdOf,
  defaultDegree,
  degreeForDropout,
  defaultThreshold,
  deriveStreamKey,
  dequantizeSum,
  expandStream,
  NeighbourGraph,
  quantizationScale,
  quantizeWeightedUpdate,
  randomBytes,
  SecAggServerRound,
} from '@fedlink/crypto';
import { FedlinkError } from '@fedlink/protocol';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `client-${String(i).padStart(3, '0')}`);

describe('SecAgg+ neighbour graph', () => {
  it('is k-regular and symmetric, and never lists a client as its own neighbour', () => {
    const g = new NeighbourGraph(ids(50), 12, randomBytes(32));
    expect(g.degree).toBe(12);
    for (const id of ids(50)) {
      const nb = g.neighbours(id);
      expect(new Set(nb).size).toBe(12);
      expect(nb).not.toContain(id);
      for (const other of nb) expect(g.neighbours(other)).toContain(id);
    }
  });

  it('is the same for everyone with the same seed, whatever the roster order, and differs across seeds', () => {
    const seed = randomBytes(32);
    const a = new NeighbourGraph(ids(40), 10, seed);
    const b = new NeighbourGraph([...ids(40)].reverse(), 10, seed);
    const c = new NeighbourGraph(ids(40), 10, randomBytes(32));
    const edges = (g: NeighbourGraph) => ids(40).map((id) => [...g.neighbours(id)].sort().join(','));
    expect(edges(a)).toEqual(edges(b));
    expect(edges(a)).not.toEqual(edges(c));
  });

  it('rounds odd k up and becomes complete when k >= n - 1; defaults follow n', () => {
    expect(new NeighbourGraph(ids(30), 7, randomBytes(32)).degree).toBe(8);
    const complete = new NeighbourGraph(ids(6), 100, randomBytes(32));
    expect(complete.degree).toBe(5);
    expect([...complete.neighbours('client-000')].sort()).toEqual(ids(6).slice(1));
    expect(defaultDegree(10)).toBe(9);
    expect(defaultDegree(50)).toBe(12);
    expect(defaultDegree(100)).toBe(14);
    expect(defaultThreshold(9)).toBe(6); // strict majority of the 10 holders
    expect(defaultThreshold(14)).toBe(8);
  });
});

describe('SecAgg+ quantisation', () => {
  it('is unbiased (stochastic rounding) and off by less than one quantum per entry', async () => {
    const scale = quantizationScale(1, 1000, 10);
    const step = 1 / scale;
    const L = 20_000;
    const delta = new Float32Array(L).fill(0.123456789);
    const out = new Uint32Array(L + 1);
    await quantizeWeightedUpdate(delta, 7, 1, scale, out);
    expect(out[L]).toBe(7);
    const decoded = dequantizeSum(out, L, scale);
    const exact = 7 * delta[0]!;
    let mean = 0;
    for (const v of decoded) {
      expect(Math.abs(v - exact)).toBeLessThan(step);
      mean += v / L;
    }
    // Both neighbouring quanta occur, and the mean converges on the exact value.
    expect(new Set(decoded).size).toBe(2);
    expect(Math.abs(mean - exact)).toBeLessThan(step / 20);
  });

  it('clips entries to [-C, C], counts them, encodes negatives in two\'s complement', async () => {
    const scale = quantizationScale(0.5, 100, 3);
    const delta = Float32Array.from([-2, -0.25, 0, 0.25, 2]);
    const out = new Uint32Array(6);
    const { clipped } = await quantizeWeightedUpdate(delta, 3, 0.5, scale, out);
    expect(clipped).toBe(2);
    expect(out[0]! > 0x7fff_ffff).toBe(true); // negative
    const d = dequantizeSum(out, 5, scale);
    const expected = [-1.5, -0.75, 0, 0.75, 1.5];
    d.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1 / scale));
  });

  it('keeps the worst-case sum inside the signed 32-bit range', () => {
    // m clients, each at the cap with every entry at +C, plus one quantum of rounding each.
    const m = 100;
    const caps = 600 * m;
    const scale = quantizationScale(1, caps, m);
    expect(scale * 1 * caps + m).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it('refuses NaN and infinities', async () => {
    const scale = quantizationScale(1, 10, 2);
    await expect(quantizeWeightedUpdate(Float32Array.from([0, NaN]), 1, 1, scale, new Uint32Array(3))).rejects.toMatchObject({ code: 'non_finite' });
    await expect(quantizeWeightedUpdate(Float32Array.from([Infinity]), 1, 1, scale, new Uint32Array(2))).rejects.toBeInstanceOf(FedlinkError);
  });
});

describe('SecAgg+ mask expansion (AES-256-CTR)', () => {
  it('is deterministic for one key and context, different across contexts, and uniform-looking', async () => {
    const secret = randomBytes(32);
    const info = (s: string) => new TextEncoder().encode(s);
    const a = await expandStream(await deriveStreamKey(secret, info('a')), 50_000);
    const a2 = await expandStream(await deriveStreamKey(secret, info('a')), 50_000);
    const b = await expandStream(await deriveStreamKey(secret, info('b')), 50_000);
    expect(a).toEqual(a2);
    let equal = 0;
    let mean = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) equal++;
      mean += a[i]! / a.length;
    }
    expect(equal).toBeLessThanOrEqual(1);
    expect(Math.abs(mean / 2 ** 32 - 0.5)).toBeLessThan(0.01);
  });
});

describe('SecAgg+ degree for an expected dropout rate', () => {
  it('keeps the default for low dropout, grows with dropout, and caps at the complete graph', () => {
    expect(degreeForDropout(100, 0)).toBe(defaultDegree(100));
    const ks = [0, 0.1, 0.2, 0.3, 0.45].map((d) => degreeForDropout(200, d));
    for (let i = 1; i < ks.length; i++) expect(ks[i]!).toBeGreaterThanOrEqual(ks[i - 1]!);
    expect(ks[3]!).toBeGreaterThan(defaultDegree(200));
    expect(degreeForDropout(30, 0.6)).toBe(29);
    expect(() => degreeForDropout(30, 1)).toThrow(RangeError);
  });

  it('the coordinator uses it when asked, unless k is given explicitly', () => {
    // The coordinator never signs with these keys here, so random 32-byte keys make a valid roster.
    const participants = Array.from({ length: 30 }, () => randomBytes(32)).map((k) => ({ clientId: clientIdOf(k), signPublicKey: k, maxExamples: 1 }));
    const robust = new SecAggServerRound({ runId: 'r', round: 0, participants, vectorLength: 1, expectedDropout: 0.3 });
    expect(robust.params.graph.degree).toBe(degreeForDropout(30, 0.3));
    const fixed = new SecAggServerRound({ runId: 'r', round: 0, participants, vectorLength: 1, expectedDropout: 0.3, neighbours: 10 });
    expect(fixed.params.graph.degree).toBe(10);
  });
});
