// Strategy specs (presets, validation, legacy names, descriptions), their composition into a
// Strategy, its namespaced server state, and the per-client training seed.
import {
  AggregationError,
  ClippedAggregator,
  OptimizerWrapper,
  STRATEGY_PRESETS,
  type ServerOptimizer,
  ServerMomentum,
  ServerSgd,
  Strategy,
  WeightedMeanAggregator,
  type WrapperState,
  clientTrainingSeed,
  describeStrategy,
  parseStrategySpec,
  presetSpec,
} from '@fedlink/core';

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const copyState = (s: Record<string, Float32Array>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.slice()]));

/** One round of one client whose delta depends on the round `k`. */
function step(strategy: Strategy, global: Float32Array, k: number): Float32Array {
  const round = strategy.beginRound(global);
  round.add(Float32Array.from([0.1 * k, -0.2, 0.05]), 3);
  round.add(Float32Array.from([-0.05, 0.1 * k, 0.3]), 1);
  return round.finish().weights;
}

function steps(strategy: Strategy, n: number, from: Float32Array = Float32Array.from([1, 2, 3])): Float32Array {
  let w = from;
  for (let k = 1; k <= n; k++) w = step(strategy, w, k);
  return w;
}

describe('presets', () => {
  test('each preset is the spec it names', () => {
    const mean = { kind: 'mean' };
    expect(presetSpec('fedavg')).toEqual({ name: 'fedavg', aggregator: mean, optimizer: { kind: 'sgd', lr: 1 }, wrappers: [] });
    expect(presetSpec('fedprox')).toEqual({ name: 'fedprox', aggregator: mean, optimizer: { kind: 'sgd', lr: 1 }, wrappers: [] });
    expect(presetSpec('fedavgm')).toEqual({ name: 'fedavgm', aggregator: mean, optimizer: { kind: 'momentum', lr: 1, momentum: 0.9 }, wrappers: [] });
    expect(presetSpec('fedadam')).toEqual({ name: 'fedadam', aggregator: mean, optimizer: { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 }, wrappers: [] });
    expect(presetSpec('fedadam', { serverLearningRate: 0.05 }).optimizer).toEqual({ kind: 'adam', lr: 0.05, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    expect(presetSpec('fedavg', { serverLearningRate: 0.7 }).optimizer).toEqual({ kind: 'sgd', lr: 0.7 });
  });

  test.each(STRATEGY_PRESETS)('%s parses by name (legacy settings) and builds', (name) => {
    expect(parseStrategySpec(name)).toEqual(presetSpec(name));
    expect(parseStrategySpec(presetSpec(name))).toEqual(presetSpec(name));
    const strategy = Strategy.fromSpec(presetSpec(name));
    expect(strategy.name).toBe(name);
    expect(strategy.spec).toEqual(presetSpec(name));
    // Only the mean accepts pre-summed groups; every robust aggregator, and SCAFFOLD's control variates, need each update.
    expect(strategy.needsIndividualUpdates).toBe(presetSpec(name).aggregator.kind !== 'mean' || name === 'scaffold');
    expect(strategy.aggregator.kind).toBe(presetSpec(name).aggregator.kind);
    expect(strategy.optimizer.kind).toBe(presetSpec(name).optimizer.kind);
    if (name === 'bulyan') expect(() => steps(strategy, 1)).toThrow(/bulyan needs at least 7 updates, got 2/);
    else if (name === 'qfedavg') expect(() => steps(strategy, 1)).toThrow(/qfedavg needs each update's training loss/); // step() reports no loss
    else if (name === 'scaffold') expect(() => steps(strategy, 1)).toThrow(/needs the federation size N/); // step() gives no N (scaffold.test.ts runs it)
    else expect(steps(strategy, 2)).toHaveLength(3);
  });

  test('a legacy name takes the stored server learning rate, except fedprox which never used it', () => {
    expect(parseStrategySpec('fedavgm', { serverLearningRate: 0.5 }).optimizer).toEqual({ kind: 'momentum', lr: 0.5, momentum: 0.9 });
    expect(parseStrategySpec('fedadam', { serverLearningRate: 0.05 }).optimizer).toEqual({ kind: 'adam', lr: 0.05, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    expect(parseStrategySpec('fedavg', {}).optimizer).toEqual({ kind: 'sgd', lr: 1 });
    expect(parseStrategySpec('fedprox', { serverLearningRate: 0.5 }).optimizer).toEqual({ kind: 'sgd', lr: 1 });
  });

  test('a bad server learning rate or an unknown name is a RangeError naming it', () => {
    for (const rate of [0, -1, NaN, Infinity]) expect(() => presetSpec('fedavg', { serverLearningRate: rate })).toThrow(/^invalid strategy spec: optimizer\.lr: /);
    expect(() => parseStrategySpec('fedadam', { serverLearningRate: -0.1 })).toThrow(RangeError);
    expect(() => parseStrategySpec('fedsgd')).toThrow(/invalid strategy spec: unknown preset 'fedsgd'/);
    expect(() => parseStrategySpec('FedAvg')).toThrow(RangeError);
  });
});

describe('parseStrategySpec', () => {
  const base = presetSpec('fedadam');
  const cases: [string, unknown, RegExp][] = [
    ['negative lr', { ...base, optimizer: { ...base.optimizer, lr: -1 } }, /^invalid strategy spec: optimizer\.lr: /],
    ['infinite lr', { ...base, optimizer: { ...base.optimizer, lr: Infinity } }, /^invalid strategy spec: optimizer\.lr: /],
    ['lr as a string', { ...base, optimizer: { ...base.optimizer, lr: '0.1' } }, /^invalid strategy spec: optimizer\.lr: /],
    ['beta1 of 1', { ...base, optimizer: { ...base.optimizer, beta1: 1 } }, /^invalid strategy spec: optimizer\.beta1: /],
    ['negative beta2', { ...base, optimizer: { ...base.optimizer, beta2: -0.1 } }, /^invalid strategy spec: optimizer\.beta2: /],
    ['tau of 0', { ...base, optimizer: { ...base.optimizer, tau: 0 } }, /^invalid strategy spec: optimizer\.tau: /],
    ['missing tau', { ...base, optimizer: { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99 } }, /^invalid strategy spec: optimizer\.tau: /],
    ['momentum of 1', { ...presetSpec('fedavgm'), optimizer: { kind: 'momentum', lr: 1, momentum: 1 } }, /^invalid strategy spec: optimizer\.momentum: /],
    ['unknown optimizer', { ...base, optimizer: { kind: 'rmsprop', lr: 0.1 } }, /^invalid strategy spec: optimizer\.kind: /],
    ['unknown aggregator', { ...base, aggregator: { kind: 'geomedian' } }, /^invalid strategy spec: aggregator\.kind: /],
    ['trimmed-mean beta of 0.5', { ...base, aggregator: { kind: 'trimmed-mean', beta: 0.5 } }, /^invalid strategy spec: aggregator\.beta: /],
    ['krum f not an integer', { ...base, aggregator: { kind: 'krum', f: 1.5, m: 1 } }, /^invalid strategy spec: aggregator\.f: /],
    ['krum without m', { ...base, aggregator: { kind: 'krum', f: 1 } }, /^invalid strategy spec: aggregator\.m: /],
    ['centered-clip tau of 0', { ...base, aggregator: { kind: 'centered-clip', tau: 0, iterations: 1 } }, /^invalid strategy spec: aggregator\.tau: /],
    ['bias correction on yogi', { ...base, optimizer: { kind: 'yogi', lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3, biasCorrection: true } }, /^invalid strategy spec: optimizer\.biasCorrection: unrecognized key$/],
    ['missing aggregator', { name: 'x', optimizer: base.optimizer }, /^invalid strategy spec: aggregator: /],
    ['extra key', { ...base, seed: 1 }, /^invalid strategy spec: seed: unrecognized key$/],
    ['extra optimizer key', { ...base, optimizer: { ...base.optimizer, eps: 1 } }, /^invalid strategy spec: optimizer\.eps: unrecognized key$/],
    ['clip bound of 0', { ...base, wrappers: [{ kind: 'clip', maxNorm: 0 }] }, /^invalid strategy spec: wrappers\.0\.maxNorm: /],
    ['unknown wrapper', { ...base, wrappers: [{ kind: 'clip', maxNorm: 1 }, { kind: 'bogus' }] }, /^invalid strategy spec: wrappers\.1\.kind: /],
    ['nine wrappers', { ...base, wrappers: Array.from({ length: 9 }, () => ({ kind: 'clip', maxNorm: 1 })) }, /^invalid strategy spec: wrappers: /],
    ['empty name', { ...base, name: '' }, /^invalid strategy spec: name: /],
    ['long name', { ...base, name: 'x'.repeat(65) }, /^invalid strategy spec: name: /],
    ['a number', 42, /^invalid strategy spec: \(spec\): /],
    ['null', null, /^invalid strategy spec: \(spec\): /],
  ];

  test.each(cases)('%s is a RangeError naming the field', (_label, raw, message) => {
    expect(() => parseStrategySpec(raw)).toThrow(RangeError);
    expect(() => parseStrategySpec(raw)).toThrow(message);
  });

  test('wrappers may be left out (defaulting to none); the name is free text', () => {
    const spec = parseStrategySpec({ name: 'my adam', aggregator: { kind: 'mean' }, optimizer: base.optimizer });
    expect(spec).toEqual({ ...base, name: 'my adam', wrappers: [] });
  });

  test('Strategy.fromSpec validates too', () => {
    const bad = { ...presetSpec('fedavg'), optimizer: { kind: 'sgd' as const, lr: -1 } };
    expect(() => Strategy.fromSpec(bad)).toThrow(/^invalid strategy spec: optimizer\.lr: /);
  });
});

describe('describeStrategy', () => {
  test('names the parts, leaving out the usual defaults', () => {
    expect(describeStrategy(presetSpec('fedavg'))).toBe('fedavg (mean -> sgd lr 1)');
    expect(describeStrategy(presetSpec('fedprox'))).toBe('fedprox (mean -> sgd lr 1)');
    expect(describeStrategy(presetSpec('fedavgm'))).toBe('fedavgm (mean -> momentum lr 1)');
    expect(describeStrategy(presetSpec('fedadam'))).toBe('fedadam (mean -> adam lr 0.01)');
    expect(describeStrategy({ ...presetSpec('fedavgm'), optimizer: { kind: 'momentum', lr: 0.5, momentum: 0.5 } })).toBe('fedavgm (mean -> momentum lr 0.5 momentum 0.5)');
    expect(describeStrategy({ ...presetSpec('fedadam'), optimizer: { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.999, tau: 1e-3 } })).toBe('fedadam (mean -> adam lr 0.1 beta2 0.999)');
    expect(describeStrategy({ ...presetSpec('fedavg'), name: 'clipped', wrappers: [{ kind: 'clip', maxNorm: 10 }, { kind: 'clip', maxNorm: 2.5 }] })).toBe(
      'clipped (mean -> sgd lr 1, with clip maxNorm 10, clip maxNorm 2.5)',
    );
  });
});

describe('Strategy', () => {
  test('a round aggregates, then steps: finish gives the weights, the mean delta and the metrics', () => {
    const strategy = Strategy.fromSpec({ ...presetSpec('fedavg'), optimizer: { kind: 'sgd', lr: 2 } });
    const global = Float32Array.from([1, 2]);
    const round = strategy.beginRound(global);
    round.add(Float32Array.from([1, 0]), 1);
    round.addWeightedSum(Float64Array.from([0, 6]), 3, 2);
    expect([round.count, round.totalExamples]).toEqual([3, 4]);
    const { weights, meanDelta, metrics } = round.finish();
    expect(Array.from(meanDelta)).toEqual([0.25, 1.5]);
    expect(Array.from(weights)).toEqual([1.5, 5]);
    expect(metrics).toEqual({});
    expect(Array.from(global)).toEqual([1, 2]);
  });

  test('a round finishes once, and not empty; neither steps the optimizer', () => {
    const strategy = Strategy.fromSpec({ ...presetSpec('fedavgm'), optimizer: { kind: 'momentum', lr: 1, momentum: 0.5 } });
    const empty = strategy.beginRound(Float32Array.from([0, 0]));
    expect(() => empty.finish()).toThrow(AggregationError);
    expect(strategy.serverState()).toEqual({});
    const round = strategy.beginRound(Float32Array.from([0, 0]));
    round.add(Float32Array.from([1, -1]), 1);
    expect(Array.from(round.finish().weights)).toEqual([1, -1]);
    expect(() => round.finish()).toThrow(AggregationError);
    expect(Array.from(strategy.serverState()['optimizer/velocity']!)).toEqual([1, -1]);
  });

  test('a clip wrapper goes around the aggregator: individual updates only, clipped counted', () => {
    const strategy = Strategy.fromSpec({ ...presetSpec('fedavg'), wrappers: [{ kind: 'clip', maxNorm: 1 }] });
    expect(strategy.needsIndividualUpdates).toBe(true);
    expect(strategy.aggregator).toBeInstanceOf(ClippedAggregator);
    expect(strategy.optimizer).toBeInstanceOf(ServerSgd);
    const round = strategy.beginRound(Float32Array.from([0, 0]));
    expect(() => round.addWeightedSum(Float64Array.from([0, 1]), 1, 1)).toThrow(AggregationError);
    round.add(Float32Array.from([0, 4]), 1);
    round.add(Float32Array.from([0.5, 0]), 1);
    const { weights, metrics } = round.finish();
    expect(metrics).toEqual({ clipped: 1 });
    expect(Array.from(weights)).toEqual([0.25, 0.5]);
  });

  test('server state is namespaced: optimizer/<name>', () => {
    const fedavg = Strategy.fromSpec(presetSpec('fedavg'));
    const fedavgm = Strategy.fromSpec(presetSpec('fedavgm'));
    const fedadam = Strategy.fromSpec(presetSpec('fedadam'));
    expect(fedavgm.serverState()).toEqual({});
    for (const s of [fedavg, fedavgm, fedadam]) steps(s, 1);
    expect(fedavg.serverState()).toEqual({});
    expect(Object.keys(fedavgm.serverState())).toEqual(['optimizer/velocity']);
    expect(Object.keys(fedadam.serverState()).sort()).toEqual(['optimizer/m', 'optimizer/v']);
    expect(fedadam.serverState()['optimizer/m']).toBe(fedadam.optimizer.state().m);
  });

  test.each(['fedavgm', 'fedadam'] as const)('%s: a restored strategy continues bit-exactly, from namespaced and from legacy names', (name) => {
    const a = Strategy.fromSpec(presetSpec(name));
    const w = steps(a, 3);
    const namespaced = copyState(a.serverState());
    const legacy = Object.fromEntries(Object.entries(namespaced).map(([k, v]) => [k.replace(/^optimizer\//, ''), v.slice()]));
    expect(Object.keys(legacy).sort()).toEqual(name === 'fedavgm' ? ['velocity'] : ['m', 'v']);
    const b = Strategy.fromSpec(presetSpec(name));
    b.restoreServerState(namespaced);
    const c = Strategy.fromSpec(presetSpec(name));
    c.restoreServerState(legacy);
    const next = bits(step(a, w, 4));
    expect(bits(step(b, w, 4))).toEqual(next);
    expect(bits(step(c, w, 4))).toEqual(next);
  });

  test('restore rejects unknown names and namespaces and mixed legacy names, keeping the state it had', () => {
    const a = Strategy.fromSpec(presetSpec('fedadam'));
    const w = steps(a, 2);
    const reference = Strategy.fromSpec(presetSpec('fedadam'));
    reference.restoreServerState(copyState(a.serverState()));
    const { 'optimizer/m': m, 'optimizer/v': v } = copyState(a.serverState());
    const bad: Record<string, Float32Array>[] = [
      { bogus: new Float32Array(3) },
      { 'dp/noise': new Float32Array(3), 'optimizer/m': m!, 'optimizer/v': v! },
      { 'optimizer/m': m!, v: v! },
      { 'optimizer/m': m!, 'optimizer/v': v!, 'optimizer/extra': v! },
      { 'optimizer/m': m!, 'optimizer/v': new Float32Array(4) },
      { 'optimizer/velocity': m! },
    ];
    for (const state of bad) expect(() => a.restoreServerState(state)).toThrow(RangeError);
    expect(bits(step(a, w, 3))).toEqual(bits(step(reference, w, 3)));
  });

  test('restoreServerState({}) resets', () => {
    const a = Strategy.fromSpec(presetSpec('fedavgm'));
    steps(a, 2);
    a.restoreServerState({});
    expect(a.serverState()).toEqual({});
    expect(bits(steps(a, 2))).toEqual(bits(steps(Strategy.fromSpec(presetSpec('fedavgm')), 2)));
  });
});

/** A stateful optimizer wrapper of the kind issue 16 adds (DP noise keeps an RNG): it counts steps. */
class StepCounter extends OptimizerWrapper implements WrapperState {
  readonly kind = 'counter';
  steps = 0;
  constructor(
    inner: ServerOptimizer,
    readonly namespace = 'counter',
  ) {
    super(inner);
  }
  override step(global: Float32Array, meanDelta: Float32Array): Float32Array {
    this.steps++;
    return super.step(global, meanDelta);
  }
  wrapperState(): Record<string, Float32Array> {
    return this.steps > 0 ? { steps: Float32Array.of(this.steps) } : {};
  }
  restoreWrapperState(state: Record<string, Float32Array>): void {
    const names = Object.keys(state);
    if (names.some((n) => n !== 'steps')) throw new RangeError(`counter state holds steps only, got ${names.join(', ')}`);
    this.steps = state.steps ? state.steps[0]! : 0;
  }
}

describe('stateful wrappers keep their state under their own namespace', () => {
  const spec = presetSpec('fedavgm');
  const make = () => {
    const counter = new StepCounter(new ServerMomentum(1, 0.9));
    return { counter, strategy: new Strategy(spec, new WeightedMeanAggregator(), counter) };
  };

  test('<namespace>/<name> beside optimizer/<name>, and both restore', () => {
    const a = make();
    const w = steps(a.strategy, 2);
    expect(Object.keys(a.strategy.serverState()).sort()).toEqual(['counter/steps', 'optimizer/velocity']);
    expect(Array.from(a.strategy.serverState()['counter/steps']!)).toEqual([2]);
    const b = make();
    b.strategy.restoreServerState(copyState(a.strategy.serverState()));
    expect(b.counter.steps).toBe(2);
    expect(bits(step(b.strategy, w, 3))).toEqual(bits(step(a.strategy, w, 3)));
    expect(b.counter.steps).toBe(3);
  });

  test('legacy names still reach the optimizer; a wrapper whose namespace is absent is reset', () => {
    const a = make();
    steps(a.strategy, 2);
    a.strategy.restoreServerState({ velocity: new Float32Array(3) });
    expect(a.counter.steps).toBe(0);
    expect(Array.from(a.strategy.serverState()['optimizer/velocity']!)).toEqual([0, 0, 0]);
  });

  test('a wrapper refusing its state rolls the whole restore back', () => {
    const a = make();
    const w = steps(a.strategy, 2);
    const before = copyState(a.strategy.serverState());
    expect(() => a.strategy.restoreServerState({ 'optimizer/velocity': new Float32Array(3), 'counter/bogus': new Float32Array(1) })).toThrow(/counter state/);
    expect(a.counter.steps).toBe(2);
    const b = make();
    b.strategy.restoreServerState(before);
    expect(bits(step(a.strategy, w, 3))).toEqual(bits(step(b.strategy, w, 3)));
  });

  test('namespaces must be unique, not optimizer, without a slash', () => {
    expect(() => new Strategy(spec, new WeightedMeanAggregator(), new StepCounter(new StepCounter(new ServerSgd())))).toThrow(/namespace 'counter'/);
    expect(() => new Strategy(spec, new WeightedMeanAggregator(), new StepCounter(new ServerSgd(), 'optimizer'))).toThrow(RangeError);
    expect(() => new Strategy(spec, new WeightedMeanAggregator(), new StepCounter(new ServerSgd(), 'a/b'))).toThrow(RangeError);
    expect(new Strategy(spec, new WeightedMeanAggregator(), new StepCounter(new StepCounter(new ServerSgd()), 'outer')).serverState()).toEqual({});
  });
});

test('clientTrainingSeed is the formula the fit configs used (values recorded from it)', () => {
  expect([0, 1, 2].map((order) => clientTrainingSeed(1, 1, order))).toEqual([1065540, 1065541, 1065542]);
  expect(clientTrainingSeed(123456789, 999, 0)).toBe(-1610081690);
  expect(clientTrainingSeed(-5, 3, 2)).toBe(-4803402);
  expect(clientTrainingSeed(2147483647, 1048576, 1)).toBe(-2147435074);
});
