import { type Aggregator, AggregationError, type UpdateInfo } from './aggregator.js';
import { applyWrapper, buildAggregator, buildControl, buildOptimizer } from './registry.js';
import type { ScaffoldControl } from './scaffold.js';
import type { ServerOptimizer } from './server-optimizer.js';
import { type StrategySpec, parseStrategySpec } from './spec.js';
import { AggregatorWrapper, OptimizerWrapper, type WrapperState, hasWrapperState } from './wrappers.js';

/**
 * The strategy the round engine runs: an Aggregator reduces the round's updates to a mean delta,
 * then a ServerOptimizer steps the global weights with it. A strategy decides and never does
 * I/O (after Flower); client selection is selection.ts, per-client fit configs are the
 * coordinator's, evaluation is the engine's.
 */

/** What a round knows of the federation beyond its updates. */
export interface RoundContext {
  /**
   * N, the clients in the federation, for SCAFFOLD's c <- c + (|S| / N) mean(Delta c_i) (required
   * with control variates). The round engine passes the clients connected when the round was planned.
   */
  population?: number;
}

/** One round: stream updates in, then `finish()` once for the new global weights. */
export interface StrategyRound {
  /**
   * One client's delta (local - global), weighted by its example count; `info` what else it
   * reported (its loss). With control variates (SCAFFOLD) the update is [Delta y, Delta c], of
   * updateLength(d) = 2d entries: RangeError for another length.
   */
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
    return new Strategy(parsed, parts.aggregator, parts.optimizer, parsed.control ? buildControl(parsed.control) : undefined);
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
    /** SCAFFOLD's server control variate, when the spec has `control`. */
    readonly control?: ScaffoldControl,
  ) {
    // Each client's Delta c enters c unweighted, on its own: no pre-summed groups.
    this.needsIndividualUpdates = aggregator.needsIndividualUpdates || control !== undefined;
    this.stateful = [...chain(aggregator), ...chain(optimizer), ...(control ? [control] : [])].filter(hasWrapperState);
    const seen = new Set<string>([OPTIMIZER_NAMESPACE]);
    for (const { namespace } of this.stateful) {
      if (namespace === '' || namespace.includes('/') || seen.has(namespace)) throw new RangeError(`state namespace '${namespace}' is reserved, taken or malformed`);
      seen.add(namespace);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** Whether updates carry control-variate deltas and round:start the server's c (SCAFFOLD). */
  get usesControlVariates(): boolean {
    return this.control !== undefined;
  }

  /** Entries of one client update for a model of `length` weights: [Delta y, Delta c] (2 length) with control variates. */
  updateLength(length: number): number {
    return this.control ? 2 * length : length;
  }

  /** The server control variate c to send with round:start (zeros before the first round); undefined without control variates. Live: copy to keep. */
  serverControl(length: number): Float32Array | undefined {
    return this.control?.current(length);
  }

  /**
   * `global` is read again at finish(): do not modify it during the round. It is never modified
   * here. With control variates `context.population` (N) is required: AggregationError without.
   */
  beginRound(global: Float32Array, context: RoundContext = {}): StrategyRound {
    const d = global.length;
    const population = context.population;
    if (this.control && !(population !== undefined && Number.isInteger(population) && population >= 1)) {
      throw new AggregationError(`${this.name}: SCAFFOLD's control step needs the federation size N (a positive integer), got ${population}`);
    }
    const round = this.aggregator.begin(d);
    const control = this.control?.begin(d);
    let finished = false;
    return {
      add: (update, numExamples, info) => {
        if (!control) return round.add(update, numExamples, info);
        if (update.length !== 2 * d) throw new RangeError(`a SCAFFOLD update holds [delta y, delta c]: ${2 * d} entries for this model, got ${update.length}`);
        round.add(range(update, 0, d), numExamples, info);
        control.add(range(update, d, 2 * d));
      },
      addWeightedSum: (weightedSum, totalExamples, count) => {
        if (control) throw new AggregationError(`${this.name} needs individual updates: each client's delta c enters the server control variate unweighted`);
        round.addWeightedSum(weightedSum, totalExamples, count);
      },
      get count() {
        return round.count;
      },
      get totalExamples() {
        return round.totalExamples;
      },
      finish: () => {
        if (finished) throw new AggregationError('strategy round already finished');
        const { meanDelta, metrics, count } = round.finish();
        finished = true;
        // c first: it throws (N below |S|) before anything changed; the step then cannot fail on lengths.
        control?.commit(count, population!);
        return { weights: this.optimizer.step(global, meanDelta), meanDelta, metrics };
      },
    };
  }

  /**
   * Server state that carries across rounds, for checkpoints: the optimizer's as
   * 'optimizer/<name>' (FedAvgM: 'optimizer/velocity'; FedAdam: 'optimizer/m', 'optimizer/v'),
   * each stateful wrapper's as '<namespace>/<name>', SCAFFOLD's server control variate as 'scaffold/c'. Live arrays: copy them before keeping them.
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

/** Entries [start, end) of `v`: a view for typed arrays, a copy otherwise. */
function range(v: ArrayLike<number>, start: number, end: number): ArrayLike<number> {
  if (v instanceof Float32Array || v instanceof Float64Array) return v.subarray(start, end);
  return Float64Array.from({ length: end - start }, (_, j) => v[start + j]!);
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
