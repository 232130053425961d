import { EventEmitter } from 'node:events';
import { FedlinkError } from '@fedlink/protocol';
import { JoinRate } from './join-rate.js';

/** What a connection is, for the budget it counts against. */
export type ConnectionKind = 'pending' | 'client' | 'dashboard';

export interface ConnectionBudgets {
  /** Joined clients (a connection moves here from `pending` when its hello is accepted). */
  clients: number;
  /** Connections of the federation namespace that haven't joined yet. */
  pending: number;
  /** Viewers of the /dashboard namespace. */
  dashboard: number;
  /** Pending or dashboard connections from one remote address (0 = no cap); joined devices behind one NAT are not capped. */
  perAddress: number;
}

export interface GatekeeperOptions {
  budgets: ConnectionBudgets;
  /** A connection that hasn't joined this long after it opened is closed. */
  handshakeTimeoutMs: number;
  /** Hellos per minute per remote address (0 = no limit); also the burst size. */
  hellosPerMinute: number;
  /** Joins admitted a second over all addresses (0 or absent = no limit): the join rate the coordinator sets (`JoinRate`). */
  joinsPerSecond?: number;
  now?: () => number;
}

export interface GatekeeperEvents {
  /** A message refused at the boundary, by event name and error code (metrics, logs). */
  refused: [{ event: string; code: string }];
}

/** Addresses tracked at most by the hello rate limit; beyond it idle (full) buckets are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

interface Ticket {
  kind: ConnectionKind;
  address: string;
}

/**
 * Limits at the edge of the coordinator, over every socket.io namespace: separate budgets for
 * connections that haven't joined, joined clients and dashboard viewers, a cap per address on
 * the unauthenticated ones, a handshake deadline (enforced by the gateway with
 * `handshakeTimeoutMs`), how fast one address may say hello, and whether the coordinator still
 * accepts anyone. Over a limit is a typed error; the gateway then disconnects the socket.
 */
export class Gatekeeper extends EventEmitter<GatekeeperEvents> {
  private closing = false;
  private readonly tickets = new Map<string, Ticket>();
  private readonly counts: Record<ConnectionKind, number> = { pending: 0, client: 0, dashboard: 0 };
  /** Pending + dashboard connections per address. */
  private readonly perAddress = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly joinRate: JoinRate | undefined;

  constructor(private readonly options: GatekeeperOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.joinRate = options.joinsPerSecond ? new JoinRate(options.joinsPerSecond, this.now) : undefined;
    for (const [name, n] of Object.entries(options.budgets)) {
      if (!Number.isInteger(n) || n < 0 || (n === 0 && name !== 'perAddress')) throw new RangeError(`connection budget ${name} must be a positive integer, got ${n}`);
    }
    if (!(options.handshakeTimeoutMs > 0)) throw new RangeError(`handshake timeout must be positive, got ${options.handshakeTimeoutMs} ms`);
  }

  get handshakeTimeoutMs(): number {
    return this.options.handshakeTimeoutMs;
  }

  /** Open connections of every kind. */
  get connections(): number {
    return this.tickets.size;
  }

  count(kind: ConnectionKind): number {
    return this.counts[kind];
  }

  /**
   * Counts a new connection (`pending` on the federation namespace, `dashboard` on /dashboard);
   * returns the error to send it when it must be turned away (it is then not counted).
   */
  connect(id: string, address: string, kind: 'pending' | 'dashboard'): FedlinkError | undefined {
    if (this.closing) return new FedlinkError('shutting_down', 'coordinator is shutting down; reconnect later');
    const { budgets } = this.options;
    const budget = kind === 'pending' ? budgets.pending : budgets.dashboard;
    if (this.counts[kind] >= budget) {
      return new FedlinkError('too_many_connections', kind === 'pending' ? `coordinator is at its limit of ${budget} connections waiting to join` : `coordinator is at its limit of ${budget} dashboard viewers`);
    }
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (budgets.perAddress > 0 && fromAddress >= budgets.perAddress) {
      return new FedlinkError('too_many_connections', `too many connections from ${address}: at most ${budgets.perAddress} that haven't joined (or dashboards) per address`);
    }
    this.tickets.set(id, { kind, address });
    this.counts[kind]++;
    this.perAddress.set(address, fromAddress + 1);
    return undefined;
  }

  /** A pending connection's hello is being admitted: it takes a client slot (throws `too_many_connections` when none is left). */
  promote(id: string): void {
    const t = this.tickets.get(id);
    if (!t || t.kind === 'client') return;
    if (t.kind !== 'pending') throw new FedlinkError('bad_request', 'only connections of the federation namespace can join');
    if (this.counts.client >= this.options.budgets.clients) {
      throw new FedlinkError('too_many_connections', `coordinator is at its limit of ${this.options.budgets.clients} clients`);
    }
    this.uncountAddress(t.address);
    this.counts.pending--;
    this.counts.client++;
    t.kind = 'client';
  }

  /** Still waiting to join (the handshake deadline applies). */
  isPending(id: string): boolean {
    return this.tickets.get(id)?.kind === 'pending';
  }

  disconnect(id: string): void {
    const t = this.tickets.get(id);
    if (!t) return;
    this.tickets.delete(id);
    this.counts[t.kind]--;
    if (t.kind !== 'client') this.uncountAddress(t.address);
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

  /** The coordinator's join rate (all addresses): throws `rate_limited` with a `retryAfterMs`. */
  checkJoinRate(): void {
    this.joinRate?.take();
  }

  refused(event: string, code: string): void {
    this.emit('refused', { event, code });
  }

  private uncountAddress(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
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
