// SCAFFOLD (Karimireddy et al. 2020, option II) on hand-checkable inputs: every number below is a
// dyadic fraction, so float32 holds it exactly and the expectations are exact.
import {
  AggregationError,
  Strategy,
  describeStrategy,
  parseStrategySpec,
  presetSpec,
  refineStrategy,
  scaffoldClientControl,
  scaffoldCorrection,
  scaffoldServerControl,
} from '@fedlink/core';

/** [delta y, delta c] as one update vector. */
const update = (dy: number[], dc: ArrayLike<number>) => Float32Array.from([...dy, ...Array.from(dc)]);

describe('client side: c_i+ = c_i - c + (x - y_i) / (K eta_l)', () => {
  test('first round (c = c_i = 0): c_i+ = -delta y / (K eta_l), delta c = c_i+', () => {
    // K eta_l = 2 * 0.125 = 0.25
    const r = scaffoldClientControl({ server: [0, 0], client: [0, 0], delta: [0.25, -0.5], steps: 2, learningRate: 0.125 });
    expect(Array.from(r.next)).toEqual([-1, 2]);
    expect(Array.from(r.delta)).toEqual([-1, 2]);
  });

  test('later round: c_i+ = c_i - c - delta y / (K eta_l); delta c = c_i+ - c_i', () => {
    // c_i [-1, 2], c [-0.75, 0.5], delta y [0.25, 0.25], K eta_l 0.25:
    // c_i+ = [-1 + 0.75 - 1, 2 - 0.5 - 1] = [-1.25, 0.5]; delta c = [-0.25, -1.5]
    const r = scaffoldClientControl({ server: [-0.75, 0.5], client: [-1, 2], delta: [0.25, 0.25], steps: 2, learningRate: 0.125 });
    expect(Array.from(r.next)).toEqual([-1.25, 0.5]);
    expect(Array.from(r.delta)).toEqual([-0.25, -1.5]);
    expect(Array.from(scaffoldCorrection([-0.75, 0.5], [-1, 2]))).toEqual([0.25, -1.5]);
  });

  test('bad inputs are refused', () => {
    expect(() => scaffoldClientControl({ server: [0], client: [0, 0], delta: [0, 0], steps: 1, learningRate: 0.1 })).toThrow(/differ in length/);
    expect(() => scaffoldClientControl({ server: [0], client: [0], delta: [0], steps: 0, learningRate: 0.1 })).toThrow(/K must be a positive integer/);
    expect(() => scaffoldClientControl({ server: [0], client: [0], delta: [0], steps: 1.5, learningRate: 0.1 })).toThrow(/K must be a positive integer/);
    expect(() => scaffoldClientControl({ server: [0], client: [0], delta: [0], steps: 1, learningRate: 0 })).toThrow(/learning rate/);
    expect(() => scaffoldCorrection([0], [0, 0])).toThrow(/differ in length/);
  });
});

describe('server side: c <- c + (|S| / N) mean(delta c)', () => {
  test('two of four clients', () => {
    // sum [-3, 2] over |S| 2: mean [-1.5, 1]; times 2/4: [-0.75, 0.5]
    expect(Array.from(scaffoldServerControl([0, 0], [-3, 2], 2, 4))).toEqual([-0.75, 0.5]);
    expect(Array.from(scaffoldServerControl([1, 1], [-3, 2], 2, 2))).toEqual([-0.5, 2]);
  });

  test('N below |S|, or |S| 0, is refused', () => {
    expect(() => scaffoldServerControl([0], [1], 3, 2)).toThrow(/N \(2\) must be an integer >= the contributors \(3\)/);
    expect(() => scaffoldServerControl([0], [1], 0, 2)).toThrow(/contributors must be a positive integer/);
    expect(() => scaffoldServerControl([0], [1, 2], 1, 2)).toThrow(/length/);
  });
});

describe('the scaffold strategy', () => {
  const x0 = Float32Array.from([1, 2]);

  /** Round 1 of the hand example: A (1 example) and B (3 examples) of N = 4. */
  function roundOne(strategy: Strategy): Float32Array {
    const round = strategy.beginRound(x0, { population: 4 });
    round.add(update([0.25, -0.5], [-1, 2]), 1);
    round.add(update([0.5, 0], [-2, 0]), 3);
    return round.finish().weights;
  }

  test('preset: mean -> sgd lr 1 with scaffold control variates; needs individual updates', () => {
    const spec = presetSpec('scaffold');
    expect(spec).toEqual({ name: 'scaffold', aggregator: { kind: 'mean' }, optimizer: { kind: 'sgd', lr: 1 }, wrappers: [], control: { kind: 'scaffold' } });
    expect(describeStrategy(spec)).toBe('scaffold (mean -> sgd lr 1, with scaffold control variates)');
    const s = Strategy.fromSpec(spec);
    expect(s.needsIndividualUpdates).toBe(true);
    expect(s.usesControlVariates).toBe(true);
    expect(s.updateLength(10)).toBe(20);
    expect(Strategy.fromSpec(presetSpec('fedavg')).updateLength(10)).toBe(10);
    expect(Strategy.fromSpec(presetSpec('fedavg')).serverControl(10)).toBeUndefined();
    expect(Array.from(s.serverControl(2)!)).toEqual([0, 0]);
  });

  test('two rounds: x by the example-weighted mean of delta y, c by (|S| / N) mean(delta c)', () => {
    const s = Strategy.fromSpec(presetSpec('scaffold'));
    // x = [1, 2] + (1 [0.25, -0.5] + 3 [0.5, 0]) / 4 = [1.4375, 1.875]; c = (2/4) [-1.5, 1]
    const x1 = roundOne(s);
    expect(Array.from(x1)).toEqual([1.4375, 1.875]);
    expect(Array.from(s.serverControl(2)!)).toEqual([-0.75, 0.5]);
    expect(Object.keys(s.serverState())).toEqual(['scaffold/c']);
    // Round 2, only A: x += [0.25, 0.25]; c += (1/4) [-0.25, -1.5]
    const round = s.beginRound(x1, { population: 4 });
    round.add(update([0.25, 0.25], [-0.25, -1.5]), 1);
    expect(Array.from(round.finish().weights)).toEqual([1.6875, 2.125]);
    expect(Array.from(s.serverControl(2)!)).toEqual([-0.8125, 0.125]);
  });

  test('the server learning rate eta_g scales the step of x only', () => {
    const s = Strategy.fromSpec(presetSpec('scaffold', { serverLearningRate: 0.5 }));
    // x = [1, 2] + 0.5 [0.4375, -0.125]
    expect(Array.from(roundOne(s))).toEqual([1.21875, 1.9375]);
    expect(Array.from(s.serverControl(2)!)).toEqual([-0.75, 0.5]);
  });

  test('c is checkpointed as scaffold/c and restored bit for bit; {} resets it; bad state is refused', () => {
    const s = Strategy.fromSpec(presetSpec('scaffold'));
    roundOne(s);
    const saved = { 'scaffold/c': s.serverState()['scaffold/c']!.slice() };
    const resumed = Strategy.fromSpec(presetSpec('scaffold'));
    resumed.restoreServerState(saved);
    expect(Array.from(resumed.serverControl(2)!)).toEqual([-0.75, 0.5]);
    expect(() => resumed.restoreServerState({ 'scaffold/d': new Float32Array(2) })).toThrow(/scaffold state must hold c/);
    expect(Array.from(resumed.serverControl(2)!)).toEqual([-0.75, 0.5]);
    expect(() => Strategy.fromSpec(presetSpec('fedavg')).restoreServerState(saved)).toThrow(/unknown server state 'scaffold\/c'/);
    resumed.restoreServerState({});
    expect(Array.from(resumed.serverControl(2)!)).toEqual([0, 0]);
    resumed.restoreServerState({ 'scaffold/c': new Float32Array(3) });
    expect(() => resumed.serverControl(2)).toThrow(/control variate has length 3, the model has 2/);
  });

  test('a round that never finishes (abandoned) leaves c as it was', () => {
    const s = Strategy.fromSpec(presetSpec('scaffold'));
    const round = s.beginRound(x0, { population: 4 });
    round.add(update([0.25, -0.5], [-1, 2]), 1);
    expect(Array.from(s.serverControl(2)!)).toEqual([0, 0]);
    expect(s.serverState()).toEqual({});
  });

  test('malformed input: wrong length, a pre-summed group, no or too small N', () => {
    const s = Strategy.fromSpec(presetSpec('scaffold'));
    const round = s.beginRound(x0, { population: 1 });
    expect(() => round.add(Float32Array.from([0.25, -0.5]), 1)).toThrow(/\[delta y, delta c\]: 4 entries for this model, got 2/);
    expect(() => round.addWeightedSum(new Float32Array(4), 2, 2)).toThrow(AggregationError);
    expect(round.count).toBe(0);
    round.add(update([0.25, -0.5], [-1, 2]), 1);
    round.add(update([0.5, 0], [-2, 0]), 3);
    expect(() => round.finish()).toThrow(/N \(1\) must be an integer >= the contributors \(2\)/);
    expect(s.serverState()).toEqual({});
    expect(() => s.beginRound(x0)).toThrow(/needs the federation size N/);
    expect(() => s.beginRound(x0, { population: 0 })).toThrow(AggregationError);
  });

  test('combinations that cannot work are refused with the reason', () => {
    const base = presetSpec('scaffold');
    expect(() => refineStrategy(base, { aggregator: 'median' })).toThrow(/control\.scaffold: needs the mean aggregator, got median/);
    expect(() => refineStrategy(base, { aggregator: 'krum:1' })).toThrow(/needs the mean aggregator, got krum/);
    expect(() => refineStrategy(base, { clip: 5 })).toThrow(/control\.scaffold: takes no wrappers, got clip/);
    expect(() => parseStrategySpec({ ...base, wrappers: [{ kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 1 }] })).toThrow(/takes no wrappers, got dp/);
    expect(() => parseStrategySpec({ ...base, control: { kind: 'feddyn' } })).toThrow(/invalid strategy spec: control/);
    // A server optimizer other than sgd is allowed: the control variates don't depend on the step.
    expect(refineStrategy(base, { optimizer: 'avgm:0.5' })).toMatchObject({ name: 'mean+momentum+scaffold', control: { kind: 'scaffold' } });
  });
});
