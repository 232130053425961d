import { type Aggregator, AggregationError, type UpdateInfo } from './aggregator.js';
import { applyWrapper, buildAggregator, buildOptimizer } from './registry.js';
import type { ServerOptimizer } from './server-optimizer.js';
import { type StrategySpec, parseStrategySpec } from './spec.js';
import { AggregatorWrapper, OptimizerWrapper, type WrapperState, hasWrapperState } from './wrappers.js';

/**
 * The strategy the round engine runs: an Aggregator reduces the round's updates to a mean delta,
 * then a ServerOptimizer steps the global weights with it. A strategy decides and never does
 * I/O (after Flower); client selection is selection.ts, per-client fit configs are the
 * coordinator's, evaluation is the engine's.
 */

/** One round: stream updates in, then `finish()` once for the new global weights. */
export interface StrategyRound {
  /** One client's delta (local - global), weighted by its example count; `info` what else it reported (its loss). */
  add(delta: ArrayLike<number>, numExamples: number, info?: UpdateInfo): void;
  /** A group summed elsewhere (secure aggregation, edge partial sums); AggregationError when the strategy needs individual updates. */
  addWeightedSum(weightedSum: ArrayLike<number>, totalExamples: number, count: number): void;
  readonly count: number;
  readonly totalExamples: number;
  /** Aggregates and steps the optimizer; once only. AggregationError when nothing was added. */
  finish(): { weights: Float32Array; meanDelta: Float32Array; metrics: Record<string, number> };
}

/** Namespace of the server optimizer's state in serverState(). */
const OPTIMIZER_NAMESPACE = 'optimizer';

export class Strategy {
  /** Builds the spec's parts from the registries (validating the spec first: RangeError when it is invalid). */
  static fromSpec(spec: StrategySpec): Strategy {
    const parsed = parseStrategySpec(spec);
    let parts = { aggregator: buildAggregator(parsed.aggregator), optimizer: buildOptimizer(parsed.optimizer) };
    for (const wrapper of parsed.wrappers) parts = applyWrapper(wrapper, parts);
    return new Strategy(parsed, parts.aggregator, parts.optimizer);
  }

  /** false: secure aggregation and edge partial sums may feed it pre-summed groups. */
  readonly needsIndividualUpdates: boolean;
  /** Parts of either chain that keep state of their own, each under its namespace. */
  private readonly stateful: readonly WrapperState[];

  /** Throws RangeError when two stateful parts share a namespace (or one claims 'optimizer' or holds a '/'). */
  constructor(
    readonly spec: StrategySpec,
    readonly aggregator: Aggregator,
    readonly optimizer: ServerOptimizer,
  ) {
    this.needsIndividualUpdates = aggregator.needsIndividualUpdates;
    this.stateful = [...chain(aggregator), ...chain(optimizer)].filter(hasWrapperState);
    const seen = new Set<string>([OPTIMIZER_NAMESPACE]);
    for (const { namespace } of this.stateful) {
      if (namespace === '' || namespace.includes('/') || seen.has(namespace)) throw new RangeError(`state namespace '${namespace}' is reserved, taken or malformed`);
      seen.add(namespace);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** `global` is read again at finish(): do not modify it during the round. It is never modified here. */
  beginRound(global: Float32Array): StrategyRound {
    const round = this.aggregator.begin(global.length);
    let finished = false;
    return {
      add: (delta, numExamples, info) => round.add(delta, numExamples, info),
      addWeightedSum: (weightedSum, totalExamples, count) => round.addWeightedSum(weightedSum, totalExamples, count),
      get count() {
        return round.count;
      },
      get totalExamples() {
        return round.totalExamples;
      },
      finish: () => {
        if (finished) throw new AggregationError('strategy round already finished');
        const { meanDelta, metrics } = round.finish();
        finished = true;
        return { weights: this.optimizer.step(global, meanDelta), meanDelta, metrics };
      },
    };
  }

  /**
   * Server state that carries across rounds, for checkpoints: the optimizer's as
   * 'optimizer/<name>' (FedAvgM: 'optimizer/velocity'; FedAdam: 'optimizer/m', 'optimizer/v'),
   * each stateful wrapper's as '<namespace>/<name>'. Live arrays: copy them before keeping them.
   */
  serverState(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(this.optimizer.state())) out[`${OPTIMIZER_NAMESPACE}/${name}`] = v;
    for (const part of this.stateful) for (const [name, v] of Object.entries(part.wrapperState())) out[`${part.namespace}/${name}`] = v;
    return out;
  }

  /**
   * Restores serverState(); a part with no entries is reset, so {} resets everything. Names
   * without a namespace ('velocity', 'm', 'v': checkpoints written before namespacing) are the
   * optimizer's. Throws RangeError on unknown names or namespaces, bad lengths, or legacy and
   * 'optimizer/' names mixed; on a throw the previous state is kept.
   */
  restoreServerState(state: Record<string, Float32Array>): void {
    const groups = new Map<string, Record<string, Float32Array>>();
    const legacy: Record<string, Float32Array> = {};
    for (const [key, value] of Object.entries(state)) {
      const slash = key.indexOf('/');
      if (slash < 0) {
        legacy[key] = value;
        continue;
      }
      const namespace = key.slice(0, slash);
      if (namespace !== OPTIMIZER_NAMESPACE && !this.stateful.some((p) => p.namespace === namespace)) throw new RangeError(`unknown server state '${key}' (${this.name} has no '${namespace}' part)`);
      let group = groups.get(namespace);
      if (!group) groups.set(namespace, (group = {}));
      group[key.slice(slash + 1)] = value;
    }
    if (Object.keys(legacy).length > 0) {
      if (groups.has(OPTIMIZER_NAMESPACE)) throw new RangeError(`server state mixes legacy names (${Object.keys(legacy).join(', ')}) with '${OPTIMIZER_NAMESPACE}/' ones`);
      groups.set(OPTIMIZER_NAMESPACE, legacy);
    }
    const before = copyGroups(this);
    try {
      this.restoreGroups(groups);
    } catch (err) {
      this.restoreGroups(new Map()); // reset first: a part half-restored to other lengths would refuse the old state
      this.restoreGroups(before);
      throw err;
    }
  }

  private restoreGroups(groups: ReadonlyMap<string, Record<string, Float32Array>>): void {
    this.optimizer.restore(groups.get(OPTIMIZER_NAMESPACE) ?? {});
    for (const part of this.stateful) part.restoreWrapperState(groups.get(part.namespace) ?? {});
  }
}

/** A part and every part it wraps, outermost first. */
function chain(part: Aggregator | ServerOptimizer): (Aggregator | ServerOptimizer)[] {
  const parts = [part];
  for (let p = part; p instanceof AggregatorWrapper || p instanceof OptimizerWrapper; p = p.inner) parts.push(p.inner);
  return parts;
}

/** Copies of every part's state, grouped by namespace. */
function copyGroups(strategy: Strategy): Map<string, Record<string, Float32Array>> {
  const groups = new Map<string, Record<string, Float32Array>>();
  for (const [key, value] of Object.entries(strategy.serverState())) {
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    let group = groups.get(namespace);
    if (!group) groups.set(namespace, (group = {}));
    group[key.slice(slash + 1)] = value.slice();
  }
  return groups;
}
