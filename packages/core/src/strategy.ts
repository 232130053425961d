import type { Rng } from './rng.js';
import { type SelectionPolicy, type Selection, selectClients, validateSelectionPolicy } from './selection.js';
import { StreamingWeightedSum } from './weighted-sum.js';

/**
 * A strategy decides; it never does I/O (after Flower). The round engine calls, in order:
 *   configureFit(round, available) -> [clients train] -> beginAggregation(round, global)
 *   -> add(...) per update (streaming) -> finish() -> new global weights.
 * Evaluation is the engine's job (it owns the model and the test data).
 */

/** Local-training settings sent to each selected client (a fresh object per client). */
export interface FitConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  proximalMu: number;
  seed: number;
}

export interface FitPlan extends Selection {
  /** Per-client config: each call returns a new object, so editing one never edits all. */
  configFor(clientId: string): FitConfig;
}

export interface RoundAggregator {
  /** One client's delta (local - global), weighted by its example count. */
  add(delta: ArrayLike<number>, numExamples: number): void;
  /** An already-summed group, sum_i n_i * delta_i (secure aggregation, edge aggregators). */
  addWeightedSum(weightedSum: ArrayLike<number>, totalExamples: number, count: number): void;
  readonly count: number;
  readonly totalExamples: number;
  /** The new global weights; the input global is not modified. */
  finish(): Float32Array;
}

export interface Strategy {
  readonly name: string;
  configureFit(round: number, available: readonly string[], rng: Rng): FitPlan;
  beginAggregation(round: number, global: Float32Array): RoundAggregator;
  /**
   * Server-optimizer state that carries across rounds (FedAvgM velocity, FedAdam moments), by
   * name, so a checkpoint can hold it and a resumed run continues exactly. Stateless strategies
   * return an empty object. The arrays are the live state: copy them before keeping them.
   */
  serverState(): Record<string, Float32Array>;
  /** Restores what `serverState` returned (resume). Throws on unknown names or wrong lengths. */
  restoreServerState(state: Record<string, Float32Array>): void;
}

export interface StrategyOptions {
  selection: SelectionPolicy;
  fit: Omit<FitConfig, 'seed'>;
  /** Base seed; each client's training seed derives from it, the round and its draw order. */
  seed: number;
}

/**
 * The FedAvg family: clients' deltas are averaged by example count into a mean delta
 * `d = sum_i n_i d_i / sum_i n_i`, and a server update rule turns `d` into new weights.
 */
export abstract class MeanDeltaStrategy implements Strategy {
  abstract readonly name: string;

  constructor(protected readonly options: StrategyOptions) {
    validateSelectionPolicy(options.selection);
  }

  configureFit(round: number, available: readonly string[], rng: Rng): FitPlan {
    const selection = selectClients(available, this.options.selection, rng);
    const order = new Map(selection.selected.map((id, i) => [id, i]));
    const { fit, seed } = this.options;
    return {
      ...selection,
      configFor: (clientId: string): FitConfig => ({
        ...fit,
        seed: (Math.imul(seed, 1_000_003) + Math.imul(round, 65_537) + (order.get(clientId) ?? 0)) | 0,
      }),
    };
  }

  beginAggregation(_round: number, global: Float32Array): RoundAggregator {
    const sum = new StreamingWeightedSum(global.length);
    return {
      add: (delta, n) => sum.add(delta, n),
      addWeightedSum: (s, n, count) => sum.addWeightedSum(s, n, count),
      get count() {
        return sum.count;
      },
      get totalExamples() {
        return sum.totalWeight;
      },
      finish: () => this.applyMeanDelta(global, sum.mean()),
    };
  }

  /** Server update rule. */
  protected abstract applyMeanDelta(global: Float32Array, meanDelta: Float32Array): Float32Array;

  serverState(): Record<string, Float32Array> {
    return {};
  }

  restoreServerState(state: Record<string, Float32Array>): void {
    const names = Object.keys(state);
    if (names.length > 0) throw new RangeError(`${this.name} keeps no server state, got ${names.join(', ')}`);
  }
}

/** Checks a restored state has exactly the expected names, all of one length. */
function expectState(strategy: string, state: Record<string, Float32Array>, names: readonly string[]): void {
  const got = Object.keys(state).sort();
  if (got.join() !== [...names].sort().join()) throw new RangeError(`${strategy} server state must hold ${names.join(', ')}, got ${got.join(', ') || 'nothing'}`);
  const len = state[names[0]!]!.length;
  if (names.some((n) => state[n]!.length !== len)) throw new RangeError(`${strategy} server state vectors differ in length`);
}

/** FedAvg (McMahan et al. 2017): w' = w + serverLr * d (serverLr 1 is the paper's rule). */
export class FedAvg extends MeanDeltaStrategy {
  readonly name: string = 'fedavg';
  constructor(
    options: StrategyOptions,
    private readonly serverLearningRate = 1,
  ) {
    super(options);
  }
  protected applyMeanDelta(global: Float32Array, d: Float32Array): Float32Array {
    const out = new Float32Array(global.length);
    const lr = this.serverLearningRate;
    for (let i = 0; i < out.length; i++) out[i] = global[i]! + lr * d[i]!;
    return out;
  }
}

/** FedProx (Li et al. 2020): FedAvg aggregation; clients add (mu/2)||w - w_global||^2 to their loss. */
export class FedProx extends FedAvg {
  override readonly name = 'fedprox';
  constructor(options: StrategyOptions) {
    if (!(options.fit.proximalMu > 0)) throw new RangeError('FedProx needs proximalMu > 0');
    super(options);
  }
}

/** FedAvgM (Hsu et al. 2019): server momentum on the mean delta. State lives across rounds. */
export class FedAvgM extends MeanDeltaStrategy {
  readonly name = 'fedavgm';
  private velocity: Float32Array | undefined;
  constructor(
    options: StrategyOptions,
    private readonly serverLearningRate = 1,
    private readonly momentum = 0.9,
  ) {
    super(options);
  }
  protected applyMeanDelta(global: Float32Array, d: Float32Array): Float32Array {
    const v = (this.velocity ??= new Float32Array(global.length));
    const out = new Float32Array(global.length);
    for (let i = 0; i < out.length; i++) {
      v[i] = this.momentum * v[i]! + d[i]!;
      out[i] = global[i]! + this.serverLearningRate * v[i]!;
    }
    return out;
  }
  override serverState(): Record<string, Float32Array> {
    return this.velocity ? { velocity: this.velocity } : {};
  }
  override restoreServerState(state: Record<string, Float32Array>): void {
    if (Object.keys(state).length === 0) {
      this.velocity = undefined;
      return;
    }
    expectState(this.name, state, ['velocity']);
    this.velocity = state.velocity!.slice();
  }
}

/**
 * FedAdam (Reddi et al. 2021, "Adaptive Federated Optimization"): Adam on the pseudo-gradient
 * -d, without bias correction as in the paper: m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
 * w' = w + lr * m / (sqrt(v) + tau).
 */
export class FedAdam extends MeanDeltaStrategy {
  readonly name = 'fedadam';
  private m: Float32Array | undefined;
  private v: Float32Array | undefined;
  constructor(
    options: StrategyOptions,
    private readonly serverLearningRate = 0.01,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.99,
    private readonly tau = 1e-3,
  ) {
    super(options);
  }
  protected applyMeanDelta(global: Float32Array, d: Float32Array): Float32Array {
    const m = (this.m ??= new Float32Array(global.length));
    const v = (this.v ??= new Float32Array(global.length));
    const out = new Float32Array(global.length);
    for (let i = 0; i < out.length; i++) {
      const g = d[i]!;
      m[i] = this.beta1 * m[i]! + (1 - this.beta1) * g;
      v[i] = this.beta2 * v[i]! + (1 - this.beta2) * g * g;
      out[i] = global[i]! + (this.serverLearningRate * m[i]!) / (Math.sqrt(v[i]!) + this.tau);
    }
    return out;
  }
  override serverState(): Record<string, Float32Array> {
    return this.m && this.v ? { m: this.m, v: this.v } : {};
  }
  override restoreServerState(state: Record<string, Float32Array>): void {
    if (Object.keys(state).length === 0) {
      this.m = this.v = undefined;
      return;
    }
    expectState(this.name, state, ['m', 'v']);
    this.m = state.m!.slice();
    this.v = state.v!.slice();
  }
}

export const STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedavgm', 'fedadam'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export function createStrategy(name: StrategyName, options: StrategyOptions, serverLearningRate?: number): Strategy {
  switch (name) {
    case 'fedavg':
      return new FedAvg(options, serverLearningRate ?? 1);
    case 'fedprox':
      return new FedProx(options);
    case 'fedavgm':
      return new FedAvgM(options, serverLearningRate ?? 1);
    case 'fedadam':
      return new FedAdam(options, serverLearningRate ?? 0.01);
    default: {
      const never: never = name;
      throw new RangeError(`unknown strategy ${String(never)}`);
    }
  }
}
