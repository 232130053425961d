import { Strategy, type StrategySpec, describeStrategy, findDp } from '@fedlink/core';
import type { RunSettings } from '../config.js';

/**
 * Whether a coordinator can be the parent of edge aggregators, and if not, why. An edge reports
 * one pre-summed group (its clients' example-weighted mean delta, their example total and their
 * count), so the parent's reduction must accept groups and still be the flat one:
 *
 * - the aggregator must take pre-summed groups (the weighted mean does; median, trimmed mean,
 *   Krum, norm clipping and QFedAvg read each client's update and can't be exact over groups);
 * - no differential privacy at the parent: central DP clips each update, local DP would noise the
 *   edge's mean instead of each device's delta, distributed DP needs SecAgg+ on this hop;
 * - no secure aggregation on the parent-edge hop: masking a group's mean with the other edges'
 *   pairwise masks would be exact, but it is not built; SecAgg+ runs between leaf clients and
 *   their edge, and the edge-to-parent update is sealed.
 *
 * Returns the refusal a joining edge gets, or undefined when edges are welcome.
 */
export function edgeRefusal(settings: Pick<RunSettings, 'secureAggregation'>, strategy: Strategy): string | undefined {
  const name = describeStrategy(strategy.spec);
  if (strategy.usesControlVariates) {
    return `strategy ${name} keeps SCAFFOLD control variates: each client's delta c enters the server's c unweighted, and an edge reports one group, so SCAFFOLD can't be exact over a tree, at the parent or at an edge (run it without edges)`;
  }
  if (settings.secureAggregation) {
    return 'this coordinator runs secure aggregation with its clients; an edge reports a sealed pre-summed update, and SecAgg+ between a parent and its edges is not supported (run SecAgg+ at the edge: fedlink edge --secure-aggregation)';
  }
  if (findDp(strategy.aggregator)) {
    return `strategy ${name} adds differential privacy at this coordinator, which needs each client's own update (or SecAgg+ on this hop); an edge reports its group's mean: run DP below the edges, or this strategy without edges`;
  }
  if (strategy.needsIndividualUpdates) {
    return `strategy ${name} needs each client's update on its own; an edge reports only its group's sum, so the tree can't be exact (use fedavg, fedavgm, fedadam or another mean-based strategy at a parent of edges; a robust aggregator runs at the edges, which have the individual updates: fedlink edge --aggregator median)`;
  }
  return undefined;
}

/** Aggregators an edge may run over its own group: its result is one delta the parent weights by the group's examples. */
const EDGE_AGGREGATORS: ReadonlySet<string> = new Set(['mean', 'median', 'trimmed-mean', 'krum', 'bulyan', 'centered-clip']);

/**
 * Whether an edge can run `spec` over its own clients, and if not, why. An edge reduces its
 * group's individual updates with the strategy's aggregator (and a clip wrapper) and reports the
 * result with the group's example total; the parent takes the example-weighted mean over groups.
 * So only the aggregation step runs at an edge: the server optimizer is the root's, SCAFFOLD's
 * control variates and DP need the whole federation, and q-FedAvg's result is a step, not a delta.
 */
export function edgeStrategyProblem(spec: StrategySpec): string | undefined {
  const name = describeStrategy(spec);
  if (spec.control) return `strategy ${name} keeps SCAFFOLD control variates, which can't be exact over a tree; run it without edges`;
  const strategy = Strategy.fromSpec(spec);
  if (findDp(strategy.aggregator)) return `strategy ${name} adds differential privacy; an edge runs no DP (its parent's noise would apply to group means): run DP without edges`;
  if (!EDGE_AGGREGATORS.has(spec.aggregator.kind)) return `aggregator ${spec.aggregator.kind} can't run at an edge (its result is not a delta the parent can weight by the group's examples); an edge runs ${[...EDGE_AGGREGATORS].join(', ')}`;
  if (spec.wrappers.some((w) => w.kind !== 'clip')) return `strategy ${name}: an edge takes only the clip wrapper around its aggregator`;
  if (spec.optimizer.kind !== 'sgd' || spec.optimizer.lr !== 1) return `strategy ${name} has a server optimizer (${spec.optimizer.kind}, lr ${spec.optimizer.lr}); the parent's optimizer steps the model, an edge only aggregates its group (choose it with --aggregator/--clip)`;
  return undefined;
}
