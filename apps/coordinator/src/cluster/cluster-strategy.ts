import { Strategy } from '@fedlink/core';
import type { RunSettings } from '../config.js';

/**
 * A strategy a cluster can't run: it needs every client's update on one process (a median, Krum,
 * Bulyan, trimmed mean, q-FedAvg, SCAFFOLD's control variates), while a cluster's nodes hand the
 * leader partial sums. Raised by startClusterNode (and so `serve --cluster`) before the node joins.
 */
export class ClusterStrategyError extends Error {
  override readonly name = 'ClusterStrategyError';

  constructor(readonly strategy: string) {
    super(
      `strategy ${strategy} needs every client's update on one process, and a cluster's nodes hand the leader partial sums: ` +
        'run it on one coordinator (no --cluster), or use a mean-based strategy (fedavg, fedprox, fedavgm, fedadam, fedyogi, fedadagrad, with or without clipping and DP)',
    );
  }
}

/** Throws ClusterStrategyError when the run's strategy can't be split into per-node partial sums. */
export function assertClusterStrategy(settings: Pick<RunSettings, 'strategy'>): void {
  const strategy = Strategy.fromSpec(settings.strategy);
  if (strategy.needsIndividualUpdates) throw new ClusterStrategyError(strategy.name);
}
