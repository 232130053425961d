/**
 * Which attempt at which round a message, a state or a plan belongs to. A round abandoned below
 * minFit is retried with the same number and the next attempt; each attempt is its own round of
 * the protocol (a retried round must not reuse the keys, shares or masks of the abandoned one).
 * The one place that says how a key is ordered and how it is written on the wire.
 */
export interface RoundKey {
  readonly round: number;
  /** 1 for a round's first attempt. */
  readonly attempt: number;
}

/** Attempts of one round the wire id tells apart (attempts wrap modulo this). */
export const ATTEMPTS_PER_ROUND = 1000;

/**
 * The key as one number: the `round` field of secure-aggregation messages,
 * round * 1000 + attempt % 1000.
 */
export function roundKeyId(key: RoundKey): number {
  return key.round * ATTEMPTS_PER_ROUND + (key.attempt % ATTEMPTS_PER_ROUND);
}

/** The round a wire id names (the inverse of roundKeyId, round part). */
export function roundOfKeyId(id: number): number {
  return Math.floor(id / ATTEMPTS_PER_ROUND);
}

/** The key a wire id names (the inverse of roundKeyId; the attempt modulo 1000). */
export function roundKeyOfId(id: number): RoundKey {
  return { round: roundOfKeyId(id), attempt: id % ATTEMPTS_PER_ROUND };
}

/** Orders keys: by round, then by attempt. Negative when `a` comes first. */
export function compareRoundKeys(a: RoundKey, b: RoundKey): number {
  return a.round - b.round || a.attempt - b.attempt;
}

/** Whether `a` comes after `b`; everything comes after `undefined` (nothing seen yet). */
export function isAfter(a: RoundKey, b: RoundKey | undefined): boolean {
  return b === undefined || compareRoundKeys(a, b) > 0;
}
