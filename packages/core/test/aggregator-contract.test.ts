// Contract suites every Aggregator and every ServerOptimizer must pass. A new kind (issue 16:
// median, Krum, DP noise...) adds a case below; the registry checks fail until it does.
import {
  AGGREGATORS,
  AggregationError,
  type Aggregator,
  AggregatorWrapper,
  BulyanAggregator,
  CenteredClipAggregator,
  ClippedAggregator,
  KrumAggregator,
  MedianAggregator,
  QFedAvgAggregator,
  TrimmedMeanAggregator,
  DpAggregator,
  OPTIMIZERS,
  OptimizerWrapper,
  type ServerOptimizer,
  ServerAdam,
  ServerAdagrad,
  ServerMomentum,
  ServerSgd,
  ServerYogi,
  WRAPPERS,
  WeightedMeanAggregator,
  createRng,
  l2Norm,
} from '@fedlink/core';

const LENGTH = 257;

/** Seeded test deltas of varied norms (0.3 .. 3) and their example counts. */
function updates(seed: number, n = 7): { deltas: Float32Array[]; weights: number[] } {
  const rng = createRng(seed);
  const deltas = Array.from({ length: n }, (_, i) => Float32Array.from({ length: LENGTH }, () => ((rng.next() - 0.5) * (i + 1)) / 10));
  const weights = Array.from({ length: n }, (_, i) => [1, 5, 10, 100, 3, 7, 600][i % 7]!);
  return { deltas, weights };
}

/** Float64 reference: sum_i n_i f(d_i) / sum_i n_i. */
function weightedMean(deltas: Float32Array[], weights: number[], f: (d: Float32Array) => ArrayLike<number> = (d) => d): Float64Array {
  const out = new Float64Array(LENGTH);
  const total = weights.reduce((a, b) => a + b, 0);
  deltas.forEach((d, i) => {
    const v = f(d);
    for (let j = 0; j < LENGTH; j++) out[j]! += (weights[i]! * v[j]!) / total;
  });
  return out;
}

function clipTo(maxNorm: number): (d: Float32Array) => ArrayLike<number> {
  return (d) => {
    const norm = l2Norm(d);
    return norm > maxNorm ? Array.from(d, (x) => (x * maxNorm) / norm) : d;
  };
}

/** Naive float64 references of the robust rules, written from their definitions (column by column, no shared code). */
const column = (deltas: Float32Array[], j: number): number[] => deltas.map((d) => d[j]!).sort((a, b) => a - b);
const perCoord = (deltas: Float32Array[], f: (col: number[]) => number) => Float64Array.from({ length: LENGTH }, (_, j) => f(column(deltas, j)));
const med = (c: number[]) => (c.length % 2 ? c[(c.length - 1) / 2]! : (c[c.length / 2 - 1]! + c[c.length / 2]!) / 2);
const mean = (c: number[]) => c.reduce((a, b) => a + b, 0) / c.length;
const sqDist = (a: Float32Array, b: Float32Array) => a.reduce((s, x, j) => s + (x - b[j]!) ** 2, 0);
function krumPick(deltas: Float32Array[], f: number, m: number): number[] {
  const n = deltas.length;
  const score = deltas.map((d, i) =>
    deltas
      .filter((_, k) => k !== i)
      .map((e) => sqDist(d, e))
      .sort((a, b) => a - b)
      .slice(0, Math.max(1, n - f - 2))
      .reduce((a, b) => a + b, 0),
  );
  return score.map((_, i) => i).sort((a, b) => score[a]! - score[b]! || a - b).slice(0, m);
}
function centered(deltas: Float32Array[], tau: number, iterations: number): Float64Array {
  let v = new Float64Array(LENGTH);
  for (let it = 0; it < iterations; it++) {
    const next = v.slice();
    for (const d of deltas) {
      const diff = Array.from(d, (x, j) => x - v[j]!);
      const norm = Math.hypot(...diff);
      diff.forEach((x, j) => (next[j]! += (x * Math.min(1, tau / norm)) / deltas.length));
    }
    v = next;
  }
  return v;
}

/** QFedAvg needs each update's loss: this adapter reports loss 1.5 with every update the contract adds. */
class WithLoss implements Aggregator {
  readonly needsIndividualUpdates = true;
  constructor(readonly inner: Aggregator) {}
  get kind(): string {
    return this.inner.kind;
  }
  begin(length: number) {
    const round = this.inner.begin(length);
    return {
      add: (d: ArrayLike<number>, n: number) => round.add(d, n, { loss: 1.5 }),
      addWeightedSum: (s: ArrayLike<number>, t: number, c: number) => round.addWeightedSum(s, t, c),
      get count() {
        return round.count;
      },
      get totalExamples() {
        return round.totalExamples;
      },
      finish: () => round.finish(),
    };
  }
}

/** q-FFL with every loss F: sum_k F^q L d_k / sum_k (q F^(q-1) L^2 ||d_k||^2 + L F^q), L = 1 / lr. */
function qffl(deltas: Float32Array[], q: number, lr: number, loss: number): Float64Array {
  const L = 1 / lr;
  const f = loss + 1e-10;
  const out = new Float64Array(LENGTH);
  let h = 0;
  for (const d of deltas) {
    d.forEach((x, j) => (out[j]! += f ** q * L * x));
    h += q * f ** (q - 1) * L * L * l2Norm(d) ** 2 + L * f ** q;
  }
  return out.map((x) => x / h);
}

/** Delegates everything: what any aggregator wrapper does before it overrides anything. */
class PassthroughAggregator extends AggregatorWrapper {
  readonly kind = 'passthrough';
}

/** Delegates everything: what any optimizer wrapper does before it overrides anything. */
class PassthroughOptimizer extends OptimizerWrapper {
  readonly kind = 'passthrough';
}

interface AggregatorCase {
  label: string;
  make: () => Aggregator;
  /** The float64 mean the aggregator should produce from these updates. */
  reference: (deltas: Float32Array[], weights: number[]) => Float64Array;
  /** Updates of `updates()` it scales (clip only). */
  clipped?: number;
  /** Fewest updates finish() accepts (Bulyan: 4f + 3). */
  minUpdates?: number;
}

const aggregatorCases: AggregatorCase[] = [
  { label: 'weighted mean', make: () => new WeightedMeanAggregator(), reference: (d, w) => weightedMean(d, w) },
  { label: 'clip with a bound that clips nothing', make: () => new ClippedAggregator(new WeightedMeanAggregator(), 1e6), reference: (d, w) => weightedMean(d, w), clipped: 0 },
  { label: 'clip with a bound that clips', make: () => new ClippedAggregator(new WeightedMeanAggregator(), 1.5), reference: (d, w) => weightedMean(d, w, clipTo(1.5)), clipped: 4 },
  { label: 'aggregator wrapper passthrough', make: () => new PassthroughAggregator(new WeightedMeanAggregator()), reference: (d, w) => weightedMean(d, w) },
  { label: 'median', make: () => new MedianAggregator(), reference: (d) => perCoord(d, med) },
  { label: 'trimmed mean 0.2', make: () => new TrimmedMeanAggregator(0.2), reference: (d) => perCoord(d, (c) => mean(c.slice(1, c.length - 1))) },
  { label: 'krum f 1', make: () => new KrumAggregator(1, 1), reference: (d) => Float64Array.from(d[krumPick(d, 1, 1)[0]!]!) },
  {
    label: 'multi-krum f 2 m 3',
    make: () => new KrumAggregator(2, 3),
    reference: (d, w) => {
      const pick = krumPick(d, 2, 3);
      return weightedMean(pick.map((i) => d[i]!), pick.map((i) => w[i]!));
    },
  },
  {
    label: 'bulyan f 1',
    make: () => new BulyanAggregator(1),
    minUpdates: 7,
    reference: (d) => {
      const sel = krumPick(d, 1, 5).map((i) => d[i]!); // theta = 7 - 2
      return perCoord(sel, (c) => {
        const m = med(c);
        return mean([...c].sort((a, b) => Math.abs(a - m) - Math.abs(b - m)).slice(0, 3)); // beta = theta - 2
      });
    },
  },
  { label: 'centered clip tau 0.8, 4 iterations', make: () => new CenteredClipAggregator(0.8, 4), reference: (d) => centered(d, 0.8, 4) },
  { label: 'qfedavg q 0.5, lr 0.1 (every loss 1.5)', make: () => new WithLoss(new QFedAvgAggregator(0.5, 0.1)), reference: (d) => qffl(d, 0.5, 0.1, 1.5) },
  { label: 'clip then median', make: () => new ClippedAggregator(new MedianAggregator(), 1.5), reference: (d) => perCoord(d.map((x) => Float32Array.from(clipTo(1.5)(x))), med), clipped: 4 },
  // Central DP: clipped deltas, each weighted 1, plus noise of std z*C/count (here ~3e-9, far below the tolerance).
  {
    label: 'central DP with a bound that clips and negligible noise',
    make: () => new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip: 1.5, noiseMultiplier: 1e-8 }),
    reference: (d) => weightedMean(d, d.map(() => 1), clipTo(1.5)),
    clipped: 4,
  },
  // Distributed and local DP: the clients clipped and noised; the coordinator's part passes through.
  { label: 'distributed DP (server side)', make: () => new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'distributed', clip: 1, noiseMultiplier: 1 }), reference: (d, w) => weightedMean(d, w) },
];

test('the aggregator contract covers every registered aggregator and aggregator wrapper kind', () => {
  const covered = new Set(aggregatorCases.map((c) => c.make().kind));
  const aggregatorWrapperKinds = Object.entries(WRAPPERS).filter(([, w]) => w.target === 'aggregator').map(([kind]) => kind);
  for (const kind of [...Object.keys(AGGREGATORS), ...aggregatorWrapperKinds]) expect(covered).toContain(kind);
});

test('the test updates: four of seven above the clip bound 1.5, none near 1e6', () => {
  const { deltas } = updates(1);
  expect(deltas.map((d) => l2Norm(d) > 1.5)).toEqual([false, false, false, true, true, true, true]);
  expect(deltas.every((d) => l2Norm(d) < 1e6)).toBe(true);
});

describe.each(aggregatorCases)('Aggregator contract: $label', ({ make, reference, clipped, minUpdates = 1 }) => {
  const acceptsSums = !make().needsIndividualUpdates;

  test('finish gives the weighted mean of what was added, with counts', () => {
    const { deltas, weights } = updates(1);
    const round = make().begin(LENGTH);
    deltas.forEach((d, i) => round.add(d, weights[i]!));
    expect(round.count).toBe(7);
    expect(round.totalExamples).toBe(726);
    const result = round.finish();
    expect(result.count).toBe(7);
    expect(result.totalExamples).toBe(726);
    expect(result.meanDelta).toBeInstanceOf(Float32Array);
    expect(result.meanDelta).toHaveLength(LENGTH);
    const want = reference(deltas, weights);
    result.meanDelta.forEach((x, j) => expect(Math.abs(x - want[j]!)).toBeLessThan(1e-6));
    for (const value of Object.values(result.metrics)) expect(Number.isFinite(value)).toBe(true);
    if (clipped !== undefined) expect(result.metrics.clipped).toBe(clipped);
  });

  test('the order updates arrive in changes the mean only within float tolerance', () => {
    const { deltas, weights } = updates(2);
    const forward = make().begin(LENGTH);
    deltas.forEach((d, i) => forward.add(d, weights[i]!));
    const backward = make().begin(LENGTH);
    for (let i = deltas.length - 1; i >= 0; i--) backward.add(deltas[i]!, weights[i]!);
    const a = forward.finish().meanDelta;
    const b = backward.finish().meanDelta;
    a.forEach((x, j) => expect(Math.abs(x - b[j]!)).toBeLessThan(1e-6));
  });

  test('an empty round cannot finish', () => {
    const round = make().begin(LENGTH);
    expect(() => round.finish()).toThrow(AggregationError);
    expect(() => round.finish()).toThrow(/nothing/);
  });

  test('a round is single-use: nothing is accepted after finish', () => {
    const { deltas } = updates(3);
    const round = make().begin(LENGTH);
    for (let i = 0; i < minUpdates; i++) round.add(deltas[i]!, 1);
    round.finish();
    expect(() => round.add(deltas[1]!, 1)).toThrow(AggregationError);
    expect(() => round.finish()).toThrow(AggregationError);
    expect(round.count).toBe(minUpdates);
  });

  if (minUpdates > 1) {
    test('a round with fewer updates than the rule needs cannot finish', () => {
      const { deltas } = updates(3);
      const round = make().begin(LENGTH);
      for (let i = 0; i < minUpdates - 1; i++) round.add(deltas[i]!, 1);
      expect(() => round.finish()).toThrow(new RegExp(`at least ${minUpdates} updates`));
    });
  }

  test('a delta of the wrong length is refused and changes nothing', () => {
    const round = make().begin(LENGTH);
    expect(() => round.add(new Float32Array(LENGTH - 1), 1)).toThrow(RangeError);
    expect(() => round.add(new Float32Array(LENGTH + 1), 1)).toThrow(/lengths differ/);
    expect(round.count).toBe(0);
    expect(round.totalExamples).toBe(0);
  });

  test.each([0, -1, NaN, Infinity])('a weight of %p is refused and changes nothing', (weight) => {
    const { deltas } = updates(4);
    const round = make().begin(LENGTH);
    const alone = make().begin(LENGTH);
    for (let i = 0; i < minUpdates; i++) {
      round.add(deltas[i]!, 2);
      alone.add(deltas[i]!, 2);
    }
    expect(() => round.add(deltas[6]!, weight)).toThrow(RangeError);
    expect(round.count).toBe(minUpdates);
    expect(round.totalExamples).toBe(2 * minUpdates);
    const want = alone.finish().meanDelta;
    round.finish().meanDelta.forEach((x, j) => expect(Math.abs(x - want[j]!)).toBeLessThan(1e-6)); // within tolerance: DP adds (negligible) fresh noise
  });

  test('the deltas handed in are not modified', () => {
    const { deltas, weights } = updates(5);
    const copies = deltas.map((d) => d.slice());
    const round = make().begin(LENGTH);
    deltas.forEach((d, i) => round.add(d, weights[i]!));
    round.finish();
    deltas.forEach((d, i) => expect(Array.from(d)).toEqual(Array.from(copies[i]!)));
  });

  if (acceptsSums) {
    test('a pre-summed group counts exactly like its members added one by one', () => {
      const { deltas, weights } = updates(6);
      const one = make().begin(LENGTH);
      deltas.forEach((d, i) => one.add(d, weights[i]!));
      const grouped = make().begin(LENGTH);
      grouped.add(deltas[0]!, weights[0]!);
      const sum = new Float64Array(LENGTH);
      for (let i = 1; i < deltas.length; i++) for (let j = 0; j < LENGTH; j++) sum[j]! += weights[i]! * deltas[i]![j]!;
      grouped.addWeightedSum(sum, 725, 6);
      expect(grouped.count).toBe(7);
      expect(grouped.totalExamples).toBe(726);
      const a = one.finish().meanDelta;
      const b = grouped.finish().meanDelta;
      a.forEach((x, j) => expect(Math.abs(x - b[j]!)).toBeLessThan(1e-7));
    });

    test('a pre-summed group with a bad length, total or count is refused', () => {
      const round = make().begin(LENGTH);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH - 1), 3, 2)).toThrow(RangeError);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH), 0, 2)).toThrow(RangeError);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH), NaN, 2)).toThrow(RangeError);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH), 3, 0)).toThrow(RangeError);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH), 3, 1.5)).toThrow(RangeError);
      expect(round.count).toBe(0);
    });
  } else {
    test('a pre-summed group is refused with AggregationError', () => {
      const round = make().begin(LENGTH);
      expect(() => round.addWeightedSum(new Float64Array(LENGTH), 3, 2)).toThrow(AggregationError);
      expect(round.count).toBe(0);
      expect(round.totalExamples).toBe(0);
    });
  }
});

describe('ClippedAggregator', () => {
  test('scales a delta above the bound to norm maxNorm and leaves one within it alone', () => {
    const round = new ClippedAggregator(new WeightedMeanAggregator(), 1).begin(2);
    round.add(Float32Array.from([3, 4]), 1); // norm 5 -> [0.6, 0.8]
    round.add(Float32Array.from([0.3, 0.4]), 1); // norm 0.5, untouched
    const { meanDelta, metrics, count } = round.finish();
    expect(count).toBe(2);
    expect(metrics).toEqual({ clipped: 1 });
    expect(meanDelta[0]).toBeCloseTo((0.6 + 0.3) / 2, 6);
    expect(meanDelta[1]).toBeCloseTo((0.8 + 0.4) / 2, 6);
  });

  test('with a bound that clips nothing, results are bit-identical to the plain mean', () => {
    const { deltas, weights } = updates(7);
    const plain = new WeightedMeanAggregator().begin(LENGTH);
    const clip = new ClippedAggregator(new WeightedMeanAggregator(), 1e6).begin(LENGTH);
    deltas.forEach((d, i) => {
      plain.add(d, weights[i]!);
      clip.add(d, weights[i]!);
    });
    const a = plain.finish();
    const b = clip.finish();
    expect(Buffer.from(b.meanDelta.buffer).equals(Buffer.from(a.meanDelta.buffer))).toBe(true);
    expect(b.metrics).toEqual({ clipped: 0 });
  });

  test('a single clipped update comes out with norm maxNorm', () => {
    const round = new ClippedAggregator(new WeightedMeanAggregator(), 0.25).begin(LENGTH);
    round.add(updates(8).deltas[6]!, 9);
    expect(l2Norm(round.finish().meanDelta)).toBeCloseTo(0.25, 6);
  });

  test('refuses non-finite deltas and bad bounds; needs individual updates', () => {
    const clip = new ClippedAggregator(new WeightedMeanAggregator(), 1);
    expect(clip.needsIndividualUpdates).toBe(true);
    expect(new WeightedMeanAggregator().needsIndividualUpdates).toBe(false);
    const round = clip.begin(2);
    expect(() => round.add(Float32Array.from([NaN, 0]), 1)).toThrow(RangeError);
    expect(() => round.add(Float32Array.from([Infinity, 0]), 1)).toThrow(/non-finite/);
    expect(round.count).toBe(0);
    for (const bad of [0, -1, NaN, Infinity]) expect(() => new ClippedAggregator(new WeightedMeanAggregator(), bad)).toThrow(RangeError);
  });
});

interface OptimizerCase {
  label: string;
  make: () => ServerOptimizer;
  /** The names state() holds once the optimizer has stepped. */
  stateNames: string[];
  /** Of those, the one-entry counters (Adam's bias-correction `step`); the rest are model-length. */
  counters?: string[];
}

const optimizerCases: OptimizerCase[] = [
  { label: 'sgd', make: () => new ServerSgd(0.5), stateNames: [] },
  { label: 'momentum', make: () => new ServerMomentum(1, 0.5), stateNames: ['velocity'] },
  { label: 'adam', make: () => new ServerAdam(0.1, 0.9, 0.99, 1e-3), stateNames: ['m', 'v'] },
  { label: 'adam with bias correction', make: () => new ServerAdam(0.1, 0.9, 0.99, 1e-3, true), stateNames: ['m', 'v', 'step'], counters: ['step'] },
  { label: 'yogi', make: () => new ServerYogi(0.05, 0.9, 0.99, 1e-3), stateNames: ['m', 'v'] },
  { label: 'adagrad', make: () => new ServerAdagrad(0.1, 0, 1e-3), stateNames: ['m', 'v'] },
  { label: 'optimizer wrapper passthrough (adam)', make: () => new PassthroughOptimizer(new ServerAdam(0.1, 0.9, 0.99, 1e-3)), stateNames: ['m', 'v'] },
];

const statefulCases = optimizerCases.filter((c) => c.stateNames.length > 0);

/** A seeded run of `rounds` steps from seeded weights; returns every step's weights. */
function run(opt: ServerOptimizer, rounds: number, from: Float32Array, seed: number): Float32Array[] {
  const rng = createRng(seed);
  const out: Float32Array[] = [];
  let w = from;
  for (let r = 0; r < rounds; r++) {
    w = opt.step(w, Float32Array.from({ length: w.length }, () => (rng.next() - 0.5) / 5));
    out.push(w);
  }
  return out;
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const copyState = (s: Record<string, Float32Array>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.slice()]));
const start = () => Float32Array.from({ length: LENGTH }, (_, i) => Math.sin(i));

test('the optimizer contract covers every registered optimizer kind', () => {
  const covered = new Set(optimizerCases.map((c) => c.make().kind));
  for (const kind of Object.keys(OPTIMIZERS)) expect(covered).toContain(kind);
});

describe.each(optimizerCases)('ServerOptimizer contract: $label', ({ make, stateNames, counters = [] }) => {
  test('step returns new weights and modifies neither global nor the delta', () => {
    const opt = make();
    const global = start();
    const d = Float32Array.from({ length: LENGTH }, (_, i) => Math.cos(i) / 10);
    const [g, dd] = [global.slice(), d.slice()];
    const out = opt.step(global, d);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).not.toBe(global);
    expect(out).toHaveLength(LENGTH);
    expect(bits(global)).toEqual(bits(g));
    expect(bits(d)).toEqual(bits(dd));
    expect(bits(out)).not.toEqual(bits(global));
  });

  test('is deterministic: two instances given the same deltas agree bit for bit', () => {
    expect(run(make(), 4, start(), 1).map(bits)).toEqual(run(make(), 4, start(), 1).map(bits));
  });

  test('state is empty before the first step and holds its names after', () => {
    const opt = make();
    expect(opt.state()).toEqual({});
    run(opt, 1, start(), 2);
    expect(Object.keys(opt.state()).sort()).toEqual([...stateNames].sort());
    for (const [name, v] of Object.entries(opt.state())) expect(v).toHaveLength(counters.includes(name) ? 1 : LENGTH);
  });

  test('state()/restore() round-trips: a restored optimizer continues bit-exactly', () => {
    const a = make();
    const w = run(a, 3, start(), 3).at(-1)!;
    const b = make();
    b.restore(copyState(a.state()));
    const fromA = run(a, 2, w, 4);
    const fromB = run(b, 2, w, 4);
    expect(fromB.map(bits)).toEqual(fromA.map(bits));
    expect(Object.fromEntries(Object.entries(b.state()).map(([k, v]) => [k, bits(v)]))).toEqual(Object.fromEntries(Object.entries(a.state()).map(([k, v]) => [k, bits(v)])));
  });

  test('restore rejects unknown names and keeps its state', () => {
    const opt = make();
    const w = run(opt, 2, start(), 5).at(-1)!;
    const reference = make();
    reference.restore(copyState(opt.state()));
    expect(() => opt.restore({ bogus: new Float32Array(LENGTH) })).toThrow(RangeError);
    expect(() => opt.restore({ ...copyState(opt.state()), extra: new Float32Array(LENGTH) })).toThrow(RangeError);
    expect(run(opt, 1, w, 6).map(bits)).toEqual(run(reference, 1, w, 6).map(bits));
  });

  test('restore({}) resets to a fresh optimizer', () => {
    const opt = make();
    run(opt, 3, start(), 7);
    opt.restore({});
    expect(opt.state()).toEqual({});
    expect(run(opt, 2, start(), 8).map(bits)).toEqual(run(make(), 2, start(), 8).map(bits));
  });

  test('a delta whose length differs from the weights is refused', () => {
    expect(() => make().step(start(), new Float32Array(LENGTH - 1))).toThrow(RangeError);
  });
});

describe.each(statefulCases)('ServerOptimizer state lengths: $label', ({ make, stateNames, counters = [] }) => {
  const stateOf = (length: number) => Object.fromEntries(stateNames.map((n) => [n, counters.includes(n) ? Float32Array.of(1) : new Float32Array(length)]));

  test('restore copies: changing the arrays handed in afterwards changes nothing', () => {
    const a = make();
    const w = run(a, 2, start(), 9).at(-1)!;
    const handed = copyState(a.state());
    const b = make();
    b.restore(handed);
    for (const v of Object.values(handed)) v.fill(123);
    expect(run(b, 1, w, 10).map(bits)).toEqual(run(a, 1, w, 10).map(bits));
  });

  test('state of another length is refused: at restore once the length is known, else at the next step', () => {
    const stepped = make();
    run(stepped, 1, start(), 11);
    expect(() => stepped.restore(stateOf(LENGTH + 1))).toThrow(/length/);
    const fresh = make();
    fresh.restore(stateOf(LENGTH + 1));
    expect(() => fresh.step(start(), new Float32Array(LENGTH))).toThrow(/length/);
  });
});

describe.each(statefulCases.filter((c) => c.stateNames.length > 1))('ServerOptimizer with several state vectors: $label', ({ make, stateNames }) => {
  test('restore rejects a partial set of names and vectors of different lengths', () => {
    const opt = make();
    expect(() => opt.restore({ [stateNames[0]!]: new Float32Array(3) })).toThrow(/must hold/);
    expect(() => opt.restore(Object.fromEntries(stateNames.map((n, i) => [n, new Float32Array(3 + i)])))).toThrow(/differ in length/);
    expect(opt.state()).toEqual({});
  });
});

describe('server optimizer rules (exact values)', () => {
  test('sgd: w + lr * d', () => {
    expect(Array.from(new ServerSgd(0.5).step(Float32Array.from([1, 2]), Float32Array.from([2, -4])))).toEqual([2, 0]);
    expect(Array.from(new ServerSgd().step(Float32Array.from([1, 2]), Float32Array.from([2, -4])))).toEqual([3, -2]);
  });

  test('momentum: v = momentum v + d, w + lr v', () => {
    const opt = new ServerMomentum(2, 0.5);
    const g1 = opt.step(Float32Array.from([0]), Float32Array.from([1]));
    expect(Array.from(g1)).toEqual([2]); // v = 1
    expect(Array.from(opt.step(g1, Float32Array.from([1])))).toEqual([5]); // v = 1.5
    expect(Array.from(opt.state().velocity!)).toEqual([1.5]);
  });

  test('adam: m and v without bias correction', () => {
    const opt = new ServerAdam(0.1, 0.9, 0.99, 1e-3);
    const g1 = opt.step(Float32Array.from([0]), Float32Array.from([2]));
    const m1 = Math.fround(0.1 * 2);
    const v1 = Math.fround(0.01 * 4);
    expect(g1[0]).toBeCloseTo((0.1 * m1) / (Math.sqrt(v1) + 1e-3), 6);
    const g2 = opt.step(g1, Float32Array.from([0]));
    const m2 = Math.fround(0.9 * m1);
    const v2 = Math.fround(0.99 * v1);
    expect(g2[0]).toBeCloseTo(g1[0]! + (0.1 * m2) / (Math.sqrt(v2) + 1e-3), 6);
    expect(opt.state().m![0]).toBeCloseTo(0.18, 6);
  });

  test('defaults are those of FedAvg, FedAvgM and FedAdam; bad parameters are refused', () => {
    expect([new ServerSgd().lr]).toEqual([1]);
    const m = new ServerMomentum();
    expect([m.lr, m.momentum]).toEqual([1, 0.9]);
    const a = new ServerAdam();
    expect([a.lr, a.beta1, a.beta2, a.tau]).toEqual([0.01, 0.9, 0.99, 1e-3]);
    expect(() => new ServerSgd(0)).toThrow(RangeError);
    expect(() => new ServerMomentum(1, 1)).toThrow(RangeError);
    expect(() => new ServerAdam(0.01, 0.9, -0.1)).toThrow(RangeError);
    expect(() => new ServerAdam(0.01, 0.9, 0.99, 0)).toThrow(RangeError);
  });

  test('an optimizer wrapper passthrough steps exactly like the optimizer it wraps', () => {
    const wrapped = new PassthroughOptimizer(new ServerMomentum(1, 0.5));
    expect(wrapped.kind).toBe('passthrough');
    expect(wrapped.inner.kind).toBe('momentum');
    expect(run(wrapped, 3, start(), 12).map(bits)).toEqual(run(new ServerMomentum(1, 0.5), 3, start(), 12).map(bits));
  });
});
