import { FedlinkError, type SecAggAbort, type SecAggAbortReason } from '@fedlink/protocol';

/**
 * The round can't finish: too few parties are left to reconstruct the secrets, or what was
 * reconstructed is inconsistent. The coordinator abandons the round and keeps the global model as
 * it was. Carries a machine-readable `reason` on top of the `secagg_failed` code.
 */
export class SecAggAbortError extends FedlinkError {
  constructor(
    readonly reason: SecAggAbortReason,
    message: string,
  ) {
    super('secagg_failed', message);
  }

  toAbortMessage(runId: string, round: number): SecAggAbort {
    return { stage: 'abort', runId, round, reason: this.reason, message: this.message.slice(0, 500) };
  }
}

/** A refused message or call: tampered, out of order, not for this round, from the wrong party. */
export function refused(message: string): FedlinkError {
  return new FedlinkError('secagg_failed', message);
}

/** A message that was already accepted, or that belongs to another run, round or stage. */
export function replayed(message: string): FedlinkError {
  return new FedlinkError('replay', message);
}
