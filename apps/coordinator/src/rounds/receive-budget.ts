import { EventEmitter } from 'node:events';

/** Default bound on the update bytes the coordinator holds between their arrival and their end (accepted or refused). */
export const RECEIVE_BUDGET_BYTES = 128 * 1024 * 1024;

export interface ReceiveBudgetEvents {
  /** true: the held bytes passed the limit, stop reading sockets; false: they fell to half of it, read again. */
  pressure: [boolean];
}

/**
 * The memory side of upload backpressure. Every update that passed the envelope checks is held,
 * whole, from its arrival until it is added or refused: while it waits for an intake slot, while
 * it is opened, and while it waits for the updates before it. A burst of uploads (a thousand
 * selected clients of a 6.6 MB CNN send at once) would hold them all. The budget counts those
 * bytes and says when they pass `limitBytes` (`pressure` true) and when they are back to half
 * of it (false); the federation gateway pauses reading every client socket in between, so TCP
 * holds the rest of the burst in the clients' send buffers and nothing is lost or refused.
 * What is past the limit is bounded by what was already read when reading paused.
 */
export class ReceiveBudget extends EventEmitter<ReceiveBudgetEvents> {
  private heldBytes = 0;
  private pausedNow = false;
  /** Most bytes held at once. */
  peakHeldBytes = 0;
  /** Times the held bytes passed the limit (reading paused). */
  pauses = 0;

  constructor(readonly limitBytes: number = RECEIVE_BUDGET_BYTES) {
    super();
    if (!(Number.isSafeInteger(limitBytes) && limitBytes > 0)) throw new RangeError(`receive budget must be a positive whole number of bytes, got ${limitBytes}`);
  }

  get held(): number {
    return this.heldBytes;
  }

  /** Whether the held bytes passed the limit and haven't yet fallen to half of it. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Holds `bytes` until the returned release is called (once; later calls do nothing). */
  hold(bytes: number): () => void {
    this.heldBytes += bytes;
    this.peakHeldBytes = Math.max(this.peakHeldBytes, this.heldBytes);
    if (!this.pausedNow && this.heldBytes > this.limitBytes) {
      this.pausedNow = true;
      this.pauses++;
      this.emit('pressure', true);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.heldBytes -= bytes;
      if (this.pausedNow && this.heldBytes <= this.limitBytes / 2) {
        this.pausedNow = false;
        this.emit('pressure', false);
      }
    };
  }
}
