import { type Selection, clientTrainingSeed, createRng, selectClients, selectGroups } from '@fedlink/core';
import type { RoundKey, TrainConfig } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';

/** Who trains in an attempt, how many updates close it early, and each client's training config. */
export interface RoundPlan extends Selection {
  key: RoundKey;
  /** Per-client config: each call returns a new object, so editing one never edits all. */
  configFor(clientId: string): TrainConfig;
  /**
   * Delegated selection: leaf clients each selected member is asked for (an edge's share goes in
   * its round:start), and their sum. Absent: every selected member is one client.
   */
  shares?: ReadonlyMap<string, number>;
  leaves?: number;
}

/** How a plan counts leaf clients: what each member stands for, and (an edge) the share its parent asked of it. */
export interface LeafPlanning {
  leaves: (clientId: string) => number;
  /** The parent's share for this edge: select exactly this many leaf clients (fewer if it has fewer). */
  share?: number;
}

/**
 * A plan decided elsewhere (a cluster's leader planned the attempt over every node's clients):
 * of the clients it assigned, those connected here train, each with the config it was given.
 */
export function assignedPlan(key: RoundKey, assigned: Readonly<Record<string, TrainConfig>>, available: readonly string[]): RoundPlan {
  const selected = available.filter((id) => Object.hasOwn(assigned, id)).sort();
  return { selected, target: selected.length, key, configFor: (clientId: string): TrainConfig => ({ ...assigned[clientId]! }) };
}

/**
 * Plans an attempt (Flower's configure_fit): selection depends only on the seed, the round, the
 * attempt and who is connected; each client's training seed on the run's seed, the round and
 * its place in the draw, so the same seed reproduces a run exactly.
 */
export function planRound(settings: Pick<RunSettings, 'seed' | 'selection' | 'fit'>, key: RoundKey, available: readonly string[], leafPlanning?: LeafPlanning): RoundPlan {
  const rng = createRng(Math.imul(settings.seed, 0x9e3779b1) ^ Math.imul(key.round, 0x85ebca6b) ^ key.attempt);
  // With leaf counts (a parent of edges, an edge given its share) the target is in leaf clients and
  // split over the members (selectGroups); when every member is one client it picks as selectClients.
  const selection = leafPlanning ? selectGroups(available, leafPlanning.leaves, settings.selection, rng, leafPlanning.share) : selectClients(available, settings.selection, rng);
  const order = new Map(selection.selected.map((id, i) => [id, i]));
  return {
    ...selection,
    key,
    configFor: (clientId: string): TrainConfig => ({ ...settings.fit, seed: clientTrainingSeed(settings.seed, key.round, order.get(clientId) ?? 0) }),
  };
}
