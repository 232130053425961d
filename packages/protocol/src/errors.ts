/**
 * Every refusal in fedlink is a typed error with a code a program can branch on and a message a
 * person can read. The same codes travel on the wire (in acks and `error` events).
 */
export const ERROR_CODES = [
  'bad_request', // malformed message: failed schema validation
  'protocol_mismatch', // client and coordinator speak different protocol versions
  'unauthorized', // missing, unknown, expired, revoked or used-up join token; key not allowlisted
  'bad_signature', // hello proof-of-possession failed; a malformed signature (small-order R, S >= L)
  'weak_key', // a public key of small order or a non-canonical encoding (could be used without a secret key)
  'not_joined', // message that needs a completed hello
  'not_selected', // update from a client not selected for this round
  'wrong_round', // update for a round that is not the current one
  'stale', // update for a round that already closed
  'wrong_run', // update for another run
  'shape_mismatch', // tensor manifest differs from the model's
  'non_finite', // NaN or Infinity in a tensor
  'norm_exceeded', // update's L2 norm over the configured bound
  'payload_too_large', // payload over the limit derived from the model
  'decrypt_failed', // sealed payload could not be opened (wrong key, tampered)
  'replay', // an envelope or hello that was already used
  'duplicate', // a second update from the same client for the same round
  'rate_limited', // too many hellos from one address
  'too_many_connections',
  'run_finished',
  'secagg_failed', // secure-aggregation stage refused (bad share, tampered masked vector, ...)
  'server_key_mismatch', // the coordinator's key is not the one the client pinned
  'timeout', // an ack or a stage did not arrive before its deadline
  'unsupported', // this client can't take part: its data, backend or platform don't fit the run's model
  'model_mismatch', // the model received doesn't hash to the welcome's (or the pinned) model hash
  'vocab_mismatch', // a text run's vocabulary doesn't hash to the welcome's (or the pinned) hash, or doesn't fit the client's text
  'internal',
  'shutting_down', // the coordinator is stopping (graceful shutdown); reconnect later
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface WireError {
  code: ErrorCode;
  message: string;
  /** `rate_limited`: when to try again (ms), the pace the coordinator sets. */
  retryAfterMs?: number;
}

export class FedlinkError extends Error {
  override readonly name = 'FedlinkError';
  /** `rate_limited`: when to try again (ms), as the coordinator said. */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { retryAfterMs?: number } = {},
  ) {
    super(message);
    this.retryAfterMs = options.retryAfterMs;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message, ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}) };
  }
}

/** Turns anything thrown into a wire error without leaking internals of unexpected failures. */
export function toWireError(err: unknown): WireError {
  if (err instanceof FedlinkError) return err.toWire();
  return { code: 'internal', message: 'internal error' };
}
