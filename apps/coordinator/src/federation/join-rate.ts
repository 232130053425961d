import { FedlinkError } from '@fedlink/protocol';

/**
 * The join rate a coordinator sets: at most `perSecond` hellos admitted a second (a token bucket:
 * a burst of `perSecond`, refilled at that rate). A hello over the rate is refused with
 * `rate_limited` and a `retryAfterMs` naming its own later slot, one every 1 / perSecond s after
 * the last one handed out, so a storm of clients comes back spread out at the rate instead of
 * all at once. A slot is advice, not a reservation: a client that comes back into a full bucket
 * is given a new slot.
 */
export class JoinRate {
  private tokens: number;
  private at: number;
  /** The last retry slot handed out to a refused client (epoch ms). */
  private reservedUntil = 0;
  private readonly now: () => number;

  constructor(
    readonly perSecond: number,
    now: () => number = Date.now,
  ) {
    if (!(perSecond > 0)) throw new RangeError(`join rate must be > 0 a second, got ${perSecond}`);
    this.now = now;
    this.tokens = perSecond;
    this.at = now();
  }

  /** Takes a join slot, or throws `rate_limited` with the client's `retryAfterMs`. */
  take(): void {
    const now = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return;
    }
    if (this.reservedUntil < now) this.reservedUntil = now;
    this.reservedUntil += 1000 / this.perSecond;
    const retryAfterMs = Math.ceil(this.reservedUntil - now);
    throw new FedlinkError('rate_limited', `the coordinator admits ${this.perSecond} joins a second: retry in ${retryAfterMs} ms`, { retryAfterMs });
  }
}
