import type { Redis } from 'ioredis';

/**
 * Leadership by a Redis lease: `SET key value NX PX ttl`, where the value is this node's id and a
 * fencing token (INCR of a counter, so every new lease is numbered above all earlier ones).
 * Renewal and release are Lua scripts that act only while the key still holds this value, so a
 * node whose lease lapsed (paused, partitioned) can't extend or delete its successor's. The
 * token goes with everything the leader writes; readers refuse work of an older token.
 */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface Lease {
  nodeId: string;
  token: number;
}

export function parseLease(value: string | null): Lease | undefined {
  if (value === null) return undefined;
  const at = value.lastIndexOf('#');
  const token = Number(value.slice(at + 1));
  return at > 0 && Number.isInteger(token) ? { nodeId: value.slice(0, at), token } : undefined;
}

export class LeaderLease {
  private held: string | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly nodeId: string,
    readonly ttlMs: number,
  ) {}

  /** Takes the lease if nobody holds it; the new fencing token, or undefined. */
  async tryAcquire(): Promise<number | undefined> {
    if (await this.redis.exists(this.key)) return undefined;
    const token = await this.redis.incr(`${this.key}:fence`);
    const value = `${this.nodeId}#${token}`;
    const ok = await this.redis.set(this.key, value, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    this.held = value;
    return token;
  }

  /** Extends the lease while it is still ours; false when it lapsed (then leadership is lost). */
  async renew(): Promise<boolean> {
    if (!this.held) return false;
    const ok = (await this.redis.eval(RENEW, 1, this.key, this.held, String(this.ttlMs))) === 1;
    if (!ok) this.held = undefined;
    return ok;
  }

  /** Whether the lease is still ours with this token (checked in Redis, not from memory). */
  async holds(token: number): Promise<boolean> {
    return this.held === `${this.nodeId}#${token}` && (await this.redis.get(this.key)) === this.held;
  }

  async release(): Promise<void> {
    if (this.held) await this.redis.eval(RELEASE, 1, this.key, this.held);
    this.held = undefined;
  }

  /** Who holds the lease now. */
  async current(): Promise<Lease | undefined> {
    return parseLease(await this.redis.get(this.key));
  }
}
