/**
 * The training seed each selected client gets: derived from the run's seed, the round and the
 * client's place in the round's seeded selection order (0-based), so a rerun with the same seed
 * trains every client identically. This is the formula the strategies' fit configs used, kept
 * bit for bit so results do not change.
 */
export function clientTrainingSeed(seed: number, round: number, order: number): number {
  return (Math.imul(seed, 1_000_003) + Math.imul(round, 65_537) + order) | 0;
}
