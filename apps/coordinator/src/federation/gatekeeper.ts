import { EventEmitter } from 'node:events';
import { FedlinkError } from '@fedlink/protocol';

export interface GatekeeperOptions {
  /** Most simultaneous socket.io connections (joined or not). */
  maxConnections: number;
  /** Hellos per minute per remote address (0 = no limit); also the burst size. */
  hellosPerMinute: number;
  now?: () => number;
}

export interface GatekeeperEvents {
  /** A message refused at the boundary, by event name and error code (metrics, logs). */
  refused: [{ event: string; code: string }];
}

/** Addresses tracked at most; beyond it idle (full) buckets are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

/**
 * Limits at the edge of the federation: how many connections, how fast one address may say
 * hello, and whether the coordinator still accepts anyone (not while shutting down). Over a
 * limit is a typed error; the gateway then disconnects the socket.
 */
export class Gatekeeper extends EventEmitter<GatekeeperEvents> {
  private open = 0;
  private closing = false;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly options: GatekeeperOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  get connections(): number {
    return this.open;
  }

  /** Counts a new connection; returns the error to send it when it must be turned away. */
  connect(): FedlinkError | undefined {
    this.open++;
    if (this.closing) return new FedlinkError('shutting_down', 'coordinator is shutting down; reconnect later');
    if (this.open > this.options.maxConnections) {
      return new FedlinkError('too_many_connections', `coordinator is at its limit of ${this.options.maxConnections} connections`);
    }
    return undefined;
  }

  disconnect(): void {
    this.open = Math.max(0, this.open - 1);
  }

  /** From now on every new connection is refused (graceful shutdown). */
  stopAccepting(): void {
    this.closing = true;
  }

  /** Token bucket per address: `hellosPerMinute` burst, refilled at that rate. Throws `rate_limited`. */
  checkHello(address: string): void {
    const rate = this.options.hellosPerMinute;
    if (rate <= 0) return;
    const now = this.now();
    let b = this.buckets.get(address);
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED_ADDRESSES) this.forgetIdle(now);
      b = { tokens: rate, at: now };
      this.buckets.set(address, b);
    }
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 60_000);
    b.at = now;
    if (b.tokens < 1) throw new FedlinkError('rate_limited', `too many hellos from ${address}: at most ${rate} a minute`);
    b.tokens -= 1;
  }

  refused(event: string, code: string): void {
    this.emit('refused', { event, code });
  }

  private forgetIdle(now: number): void {
    const rate = this.options.hellosPerMinute;
    for (const [addr, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * rate) / 60_000 >= rate) this.buckets.delete(addr);
    }
    // Still full of busy addresses: forget the oldest half rather than grow without bound.
    if (this.buckets.size >= MAX_TRACKED_ADDRESSES) {
      let n = this.buckets.size / 2;
      for (const addr of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(addr);
      }
    }
  }
}
