// The robust aggregators and the adaptive server optimizers on inputs small enough to check by
// hand (each expected value is worked out in the comment beside it), and the one text parser
// for `--aggregator` / `--optimizer` and the hyper-parameter flags.
import {
  AggregationError,
  BulyanAggregator,
  CenteredClipAggregator,
  KrumAggregator,
  MedianAggregator,
  QFedAvgAggregator,
  ServerAdagrad,
  ServerAdam,
  ServerYogi,
  Strategy,
  TrimmedMeanAggregator,
  type Aggregator,
  describeStrategy,
  minUpdatesOf,
  parseAggregatorText,
  parseOptimizerText,
  presetSpec,
  refineStrategy,
} from '@fedlink/core';

/** Reduces 1-D (or n-D) deltas with their example counts (1 each unless given). */
function reduce(agg: Aggregator, deltas: number[][], examples?: number[]) {
  const round = agg.begin(deltas[0]!.length);
  deltas.forEach((d, i) => round.add(Float32Array.from(d), examples?.[i] ?? 1));
  return round.finish();
}
const values = (agg: Aggregator, deltas: number[][], examples?: number[]) => Array.from(reduce(agg, deltas, examples).meanDelta);

describe('robust aggregators on hand-checkable inputs', () => {
  test('median: the middle value, or the mean of the two middle ones; unweighted', () => {
    expect(values(new MedianAggregator(), [[1], [5], [100]], [1000, 1, 1])).toEqual([5]);
    expect(values(new MedianAggregator(), [[1, 10], [2, -10], [3, 0], [100, 4]])).toEqual([2.5, 2]); // [1,2,3,100] -> (2+3)/2; [-10,0,4,10] -> (0+4)/2
  });

  test('trimmed mean 0.2 of 5: drops floor(0.2 * 5) = 1 from each end', () => {
    expect(values(new TrimmedMeanAggregator(0.2), [[-100], [1], [2], [3], [100]])).toEqual([2]); // mean(1, 2, 3)
    expect(values(new TrimmedMeanAggregator(0.2), [[-100], [1], [6], [100]])).toEqual([1.75]); // floor(0.8) = 0: the plain mean, (-100 + 1 + 6 + 100) / 4
    const r = reduce(new TrimmedMeanAggregator(0.3), [[0], [1], [2], [3], [4], [5], [6], [7], [8], [9]]); // floor(3) = 3 cut each end -> mean(3..6)
    expect(Array.from(r.meanDelta)).toEqual([4.5]);
    expect(r.metrics).toEqual({ trimmed: 6 });
  });

  test('krum f 0 on [0], [1], [3], [100]: scores sum the n - f - 2 = 2 nearest squared distances', () => {
    // 0: 1 + 9 = 10; 1: 1 + 4 = 5; 3: 4 + 9 = 13; 100: 97^2 + 99^2 -> Krum picks [1]
    const r = reduce(new KrumAggregator(0, 1), [[0], [1], [3], [100]]);
    expect(Array.from(r.meanDelta)).toEqual([1]);
    expect(r.metrics).toEqual({ rejected: 3 });
    // Multi-Krum m 2 keeps [1] (score 5) and [0] (10), example-weighted: (3 * 1 + 1 * 0) / 4
    expect(values(new KrumAggregator(0, 2), [[0], [1], [3], [100]], [1, 3, 1, 1])).toEqual([0.75]);
  });

  test('bulyan f 1 on 0..5 and 1000: theta 5 by Krum score, then the beta 3 nearest the median', () => {
    // closest n-f-2 = 4. Scores: 0:30 1:15 2:10 3:10 4:15 5:30 1000:huge. theta = 5 -> {2,3,1,4,0}
    // (0 and 5 tie at 30: the lower index). Median 2; the 3 nearest it are 1, 2, 3 -> mean 2.
    const r = reduce(new BulyanAggregator(1), [[0], [1], [2], [3], [4], [5], [1000]]);
    expect(Array.from(r.meanDelta)).toEqual([2]);
    expect(r.metrics).toEqual({ rejected: 2 });
    expect(() => reduce(new BulyanAggregator(1), [[0], [1], [2], [3], [4], [5]])).toThrow(AggregationError);
    expect(minUpdatesOf({ kind: 'bulyan', f: 2 })).toBe(11);
    expect(minUpdatesOf({ kind: 'median' })).toBe(1);
  });

  test('centered clipping tau 2 on [1], [-1], [10]: one iteration, then two', () => {
    // v0 = 0: (1 - 1 + clip(10) = 2) / 3 = 2/3
    const one = reduce(new CenteredClipAggregator(2, 1), [[1], [-1], [10]]);
    expect(one.meanDelta[0]).toBeCloseTo(2 / 3, 6);
    expect(one.metrics).toEqual({ clipped: 1 });
    // v1 = 2/3: diffs 1/3, -5/3, 28/3 -> clipped 1/3, -5/3, 2 -> v2 = 2/3 + (2/3) / 3 = 8/9
    expect(values(new CenteredClipAggregator(2, 2), [[1], [-1], [10]])[0]).toBeCloseTo(8 / 9, 6);
    // in 2-D the clip is on the L2 norm: [3, 4] (norm 5) -> [0.6, 0.8] with tau 1
    const two = values(new CenteredClipAggregator(1, 1), [[3, 4]]);
    expect(two[0]).toBeCloseTo(0.6, 6);
    expect(two[1]).toBeCloseTo(0.8, 6);
  });

  test('one scaled attacker among honest clients: the mean follows it, the robust rules do not', () => {
    const honest = [[1], [1.1], [0.9], [1.05], [0.95], [1.02]];
    const attacked = [...honest, [-100]];
    expect(values(new MedianAggregator(), attacked)[0]).toBeCloseTo(1, 1);
    expect(values(new TrimmedMeanAggregator(0.2), attacked)[0]).toBeCloseTo(1, 1);
    expect(values(new KrumAggregator(1, 1), attacked)[0]).toBeCloseTo(1, 1);
    expect(values(new BulyanAggregator(1), attacked)[0]).toBeCloseTo(1, 1);
    expect(values(new CenteredClipAggregator(1, 5), attacked)[0]).toBeGreaterThan(0.6);
  });

  test('every robust aggregator needs individual updates and refuses bad parameters', () => {
    for (const agg of [new MedianAggregator(), new TrimmedMeanAggregator(0.1), new KrumAggregator(1, 2), new BulyanAggregator(1), new CenteredClipAggregator(1, 1)]) {
      expect(agg.needsIndividualUpdates).toBe(true);
      expect(() => agg.begin(1).addWeightedSum([1], 2, 2)).toThrow(/needs individual updates/);
    }
    expect(() => new TrimmedMeanAggregator(0.5)).toThrow(RangeError);
    expect(() => new KrumAggregator(-1)).toThrow(RangeError);
    expect(() => new KrumAggregator(1, 0)).toThrow(RangeError);
    expect(() => new BulyanAggregator(0.5)).toThrow(RangeError);
    expect(() => new CenteredClipAggregator(0)).toThrow(RangeError);
    expect(() => new CenteredClipAggregator(1, 0)).toThrow(RangeError);
  });
});

describe('q-FedAvg on hand-checkable inputs', () => {
  test('q 0, L 1: one update passes through; q 1, L 2: the higher loss weighs more', () => {
    const one = new QFedAvgAggregator(0, 1).begin(1);
    one.add(Float32Array.of(1), 5, { loss: 1 }); // sum = 1 * 1 * 1; h = 0 + 1 * 1 -> 1
    expect(one.finish().meanDelta[0]).toBeCloseTo(1, 6);
    const two = new QFedAvgAggregator(1, 0.5).begin(1); // L = 2
    two.add(Float32Array.of(1), 1, { loss: 1 }); // sum += 1 * 2 * 1 = 2;   h += 1 * 1 * 4 * 1 + 2 * 1 = 6
    two.add(Float32Array.of(-1), 1, { loss: 3 }); // sum += 3 * 2 * -1 = -6; h += 1 * 1 * 4 * 1 + 2 * 3 = 10
    expect(two.finish().meanDelta[0]).toBeCloseTo(-4 / 16, 6);
  });

  test('an update without its loss is refused; so are pre-summed groups and bad parameters', () => {
    const round = new QFedAvgAggregator(0.1, 0.1).begin(1);
    expect(() => round.add(Float32Array.of(1), 1)).toThrow(/needs each update's training loss/);
    expect(() => round.add(Float32Array.of(1), 1, { loss: NaN })).toThrow(RangeError);
    expect(() => round.addWeightedSum([1], 2, 2)).toThrow(AggregationError);
    expect(round.count).toBe(0);
    expect(() => new QFedAvgAggregator(-1, 0.1)).toThrow(RangeError);
    expect(() => new QFedAvgAggregator(0.1, 0)).toThrow(RangeError);
    expect(parseAggregatorText('qfedavg:0.2', { clientLr: 0.03 })).toEqual({ kind: 'qfedavg', q: 0.2, lr: 0.03 });
    expect(parseAggregatorText('qfedavg:0.2,0.1')).toEqual({ kind: 'qfedavg', q: 0.2, lr: 0.1 });
  });
});

describe('adaptive server optimizers on hand-checkable inputs', () => {
  test('yogi: v moves by (1-b2) d^2 toward d^2, not Adam\'s decay', () => {
    const opt = new ServerYogi(0.1, 0.9, 0.99, 1e-3);
    const w1 = opt.step(Float32Array.of(0), Float32Array.of(2)); // m 0.2, v = 0 - 0.01*4*sign(0-4) = 0.04
    expect(w1[0]).toBeCloseTo((0.1 * 0.2) / (0.2 + 1e-3), 6);
    const w2 = opt.step(w1, Float32Array.of(0)); // m 0.18, v stays 0.04 (Adam's would decay to 0.0396)
    expect(w2[0]! - w1[0]!).toBeCloseTo((0.1 * 0.18) / (0.2 + 1e-3), 6);
    opt.step(w2, Float32Array.of(1)); // v = 0.04 - 0.01 * 1 * sign(0.04 - 1) = 0.05
    expect(opt.state().v![0]).toBeCloseTo(0.05, 7);
  });

  test('adagrad: v accumulates d^2; beta1 0 makes m the delta', () => {
    const opt = new ServerAdagrad(0.1, 0, 1e-3);
    const w1 = opt.step(Float32Array.of(0), Float32Array.of(2)); // v 4
    expect(w1[0]).toBeCloseTo((0.1 * 2) / (2 + 1e-3), 6);
    const w2 = opt.step(w1, Float32Array.of(1)); // v 5
    expect(w2[0]! - w1[0]!).toBeCloseTo((0.1 * 1) / (Math.sqrt(5) + 1e-3), 6);
    expect(Array.from(opt.state().v!)).toEqual([5]);
  });

  test('adam bias correction: lr sqrt(1 - b2^t) / (1 - b1^t), counted in the state', () => {
    const plain = new ServerAdam(0.1, 0.9, 0.99, 1e-3);
    const corrected = new ServerAdam(0.1, 0.9, 0.99, 1e-3, true);
    const p1 = plain.step(Float32Array.of(0), Float32Array.of(2));
    const c1 = corrected.step(Float32Array.of(0), Float32Array.of(2)); // t 1: factor sqrt(0.01)/0.1 = 1
    expect(c1[0]).toBeCloseTo(p1[0]!, 6);
    const p2 = plain.step(p1, Float32Array.of(2));
    const c2 = corrected.step(c1, Float32Array.of(2)); // t 2: factor sqrt(1 - 0.9801) / 0.19
    const m2 = 0.9 * 0.2 + 0.2;
    const v2 = 0.99 * 0.04 + 0.04;
    expect(p2[0]! - p1[0]!).toBeCloseTo((0.1 * m2) / (Math.sqrt(v2) + 1e-3), 5);
    expect(c2[0]! - c1[0]!).toBeCloseTo((((0.1 * Math.sqrt(1 - 0.99 ** 2)) / (1 - 0.9 ** 2)) * m2) / (Math.sqrt(v2) + 1e-3), 5);
    expect(Array.from(corrected.state().step!)).toEqual([2]);
    expect(Object.keys(plain.state()).sort()).toEqual(['m', 'v']);
    // a checkpoint of one cannot be restored into the other
    expect(() => plain.restore(corrected.state())).toThrow(/must hold m, v/);
    expect(() => new ServerAdam(0.1, 0.9, 0.99, 1e-3, true).restore({ ...plain.state() })).toThrow(/must hold m, v, step/);
  });
});

describe('the text forms of strategy parts', () => {
  test.each([
    ['mean', { kind: 'mean' }],
    ['median', { kind: 'median' }],
    ['trimmed-mean:0.1', { kind: 'trimmed-mean', beta: 0.1 }],
    ['krum:2', { kind: 'krum', f: 2, m: 1 }],
    ['multi-krum:2,10', { kind: 'krum', f: 2, m: 10 }],
    ['bulyan:3', { kind: 'bulyan', f: 3 }],
    ['centered-clip:0.5', { kind: 'centered-clip', tau: 0.5, iterations: 3 }],
    ['centered-clip:0.5,1', { kind: 'centered-clip', tau: 0.5, iterations: 1 }],
  ])('--aggregator %s', (text, spec) => expect(parseAggregatorText(text)).toEqual(spec));

  test.each([
    ['sgd', { kind: 'sgd', lr: 1 }],
    ['avgm:0.5', { kind: 'momentum', lr: 1, momentum: 0.5 }],
    ['adam', { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }],
    ['yogi', { kind: 'yogi', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }],
    ['adagrad', { kind: 'adagrad', lr: 0.1, beta1: 0, tau: 1e-3 }],
  ])('--optimizer %s', (text, spec) => expect(parseOptimizerText(text)).toEqual(spec));

  test.each(['geomed', 'krum', 'krum:x', 'krum:1.5', 'multi-krum:1', 'trimmed-mean', 'median:3', 'bulyan:-1'])('--aggregator %s is refused', (text) => {
    expect(() => parseAggregatorText(text)).toThrow(RangeError);
  });

  test('refineStrategy builds the spec the JSON form would give, and refuses what cannot apply', () => {
    const spec = refineStrategy(presetSpec('fedavg'), { aggregator: 'trimmed-mean:0.2', optimizer: 'adam', lr: 0.05, beta1: 0.8, tau: 1e-2, biasCorrection: true, clip: 5 });
    expect(spec).toEqual({
      name: 'trimmed-mean+adam',
      aggregator: { kind: 'trimmed-mean', beta: 0.2 },
      optimizer: { kind: 'adam', lr: 0.05, beta1: 0.8, beta2: 0.99, tau: 1e-2, biasCorrection: true },
      wrappers: [{ kind: 'clip', maxNorm: 5 }],
    });
    expect(describeStrategy(spec)).toBe('trimmed-mean+adam (trimmed-mean beta 0.2 -> adam lr 0.05 beta1 0.8 tau 0.01 biasCorrection true, with clip maxNorm 5)');
    expect(refineStrategy(presetSpec('fedyogi'), { beta2: 0.999 })).toEqual({ ...presetSpec('fedyogi'), optimizer: { ...presetSpec('fedyogi').optimizer, beta2: 0.999 } });
    expect(refineStrategy(presetSpec('krum'), {})).toEqual(presetSpec('krum'));
    expect(() => refineStrategy(presetSpec('fedavg'), { beta1: 0.9 })).toThrow(/beta1 applies to the adam, yogi, adagrad optimizers; this strategy's is sgd/);
    expect(() => refineStrategy(presetSpec('fedyogi'), { biasCorrection: true })).toThrow(/biasCorrection applies to the adam/);
    expect(() => refineStrategy(presetSpec('fedadam'), { beta2: 1 })).toThrow(/optimizer\.beta2/);
    expect(Strategy.fromSpec(refineStrategy(presetSpec('fedavg'), { aggregator: 'median' })).needsIndividualUpdates).toBe(true);
  });
});
