import { type Selection, clientTrainingSeed, createRng, selectClients } from '@fedlink/core';
import type { RoundKey, TrainConfig } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';

/** Who trains in an attempt, how many updates close it early, and each client's training config. */
export interface RoundPlan extends Selection {
  key: RoundKey;
  /** Per-client config: each call returns a new object, so editing one never edits all. */
  configFor(clientId: string): TrainConfig;
}

/**
 * Plans an attempt (Flower's configure_fit): selection depends only on the seed, the round, the
 * attempt and who is connected; each client's training seed on the run's seed, the round and
 * its place in the draw, so the same seed reproduces a run exactly.
 */
/**
 * A plan decided elsewhere (a cluster's leader planned the attempt over every node's clients):
 * of the clients it assigned, those connected here train, each with the config it was given.
 */
export function assignedPlan(key: RoundKey, assigned: Readonly<Record<string, TrainConfig>>, available: readonly string[]): RoundPlan {
  const selected = available.filter((id) => Object.hasOwn(assigned, id)).sort();
  return { selected, target: selected.length, key, configFor: (clientId: string): TrainConfig => ({ ...assigned[clientId]! }) };
}

export function planRound(settings: Pick<RunSettings, 'seed' | 'selection' | 'fit'>, key: RoundKey, available: readonly string[]): RoundPlan {
  const rng = createRng(Math.imul(settings.seed, 0x9e3779b1) ^ Math.imul(key.round, 0x85ebca6b) ^ key.attempt);
  const selection = selectClients(available, settings.selection, rng);
  const order = new Map(selection.selected.map((id, i) => [id, i]));
  return {
    ...selection,
    key,
    configFor: (clientId: string): TrainConfig => ({ ...settings.fit, seed: clientTrainingSeed(settings.seed, key.round, order.get(clientId) ?? 0) }),
  };
}
