import { type Strategy, describeStrategy, findDp } from '@fedlink/core';
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
  if (settings.secureAggregation) {
    return 'this coordinator runs secure aggregation with its clients; an edge reports a sealed pre-summed update, and SecAgg+ between a parent and its edges is not supported (run SecAgg+ at the edge: fedlink edge --secure-aggregation)';
  }
  if (findDp(strategy.aggregator)) {
    return `strategy ${name} adds differential privacy at this coordinator, which needs each client's own update (or SecAgg+ on this hop); an edge reports its group's mean: run DP below the edges, or this strategy without edges`;
  }
  if (strategy.needsIndividualUpdates) {
    return `strategy ${name} needs each client's update on its own; an edge reports only its group's sum, so the tree can't be exact (use fedavg, fedavgm, fedadam or another mean-based strategy at a parent of edges; run this one at the edge, which has the individual updates)`;
  }
  return undefined;
}
