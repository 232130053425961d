import { createHash } from 'node:crypto';
import { FedlinkError } from '@fedlink/protocol';
import { randomId, randomToken } from '../state/secrets.js';
import type { Db } from './database.js';
import type { Awaitable } from './run-records.js';

export interface JoinTokenInfo {
  id: string;
  label: string | null;
  createdAt: number;
  expiresAt: number | null;
  maxUses: number | null;
  /** Distinct clients admitted with the token. */
  uses: number;
  revokedAt: number | null;
  state: 'active' | 'expired' | 'revoked' | 'used up';
}

export interface CreatedToken extends JoinTokenInfo {
  /** The secret itself: shown once, only its sha256 is stored. */
  token: string;
}

export interface TokenOptions {
  ttlMs?: number;
  maxUses?: number;
  label?: string;
}

/**
 * Where join tokens live: the state directory's SQLite (JoinTokenStore) or, for a cluster, the
 * PostgreSQL every node shares (PostgresJoinTokens), so a token made against one node is valid on
 * all and a client's use of it counts once whichever node it joins.
 */
export interface JoinTokens {
  create(opts?: TokenOptions): Awaitable<CreatedToken>;
  list(): Awaitable<JoinTokenInfo[]>;
  get(id: string): Awaitable<JoinTokenInfo | undefined>;
  revoke(id: string): Awaitable<boolean>;
  /** Admits the client with the token, counting a new client's use; false when the token is not this store's; throws `unauthorized` saying why not. */
  admit(token: string, clientId: string): Awaitable<boolean>;
}

/** A token row as both stores read it. */
export interface TokenRow {
  id: string;
  label: string | null;
  created_at: number;
  expires_at: number | null;
  max_uses: number | null;
  revoked_at: number | null;
  uses: number;
}

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** A new token's secret, id and limits (RangeError on bad options). */
export function newToken(opts: TokenOptions, now: number): { token: string; id: string; hash: string; createdAt: number; expiresAt: number | null; maxUses: number | null; label: string | null } {
  if (opts.ttlMs !== undefined && !(opts.ttlMs > 0)) throw new RangeError('token ttl must be > 0');
  if (opts.maxUses !== undefined && !(Number.isInteger(opts.maxUses) && opts.maxUses >= 1)) throw new RangeError('token uses must be a whole number >= 1');
  const token = randomToken();
  return { token, id: randomId('tok_'), hash: hashToken(token), createdAt: now, expiresAt: opts.ttlMs !== undefined ? now + opts.ttlMs : null, maxUses: opts.maxUses ?? null, label: opts.label ?? null };
}

/** Why a known token can't admit a new client now (revoked, expired, used up), or undefined when it can. */
export function tokenRefusal(row: TokenRow, now: number, newClient: boolean): FedlinkError | undefined {
  if (row.revoked_at !== null) return new FedlinkError('unauthorized', `join token ${row.id} was revoked`);
  if (row.expires_at !== null && now >= row.expires_at) return new FedlinkError('unauthorized', `join token ${row.id} expired at ${new Date(row.expires_at).toISOString()}`);
  if (newClient && row.max_uses !== null && row.uses >= row.max_uses) {
    return new FedlinkError('unauthorized', `join token ${row.id} was already used by its ${row.max_uses} allowed client(s)`);
  }
  return undefined;
}

export function tokenInfo(r: TokenRow, now: number): JoinTokenInfo {
  const state: JoinTokenInfo['state'] =
    r.revoked_at !== null ? 'revoked' : r.expires_at !== null && now >= r.expires_at ? 'expired' : r.max_uses !== null && r.uses >= r.max_uses ? 'used up' : 'active';
  return { id: r.id, label: r.label, createdAt: r.created_at, expiresAt: r.expires_at, maxUses: r.max_uses, uses: r.uses, revokedAt: r.revoked_at, state };
}

/**
 * Join tokens with an expiry, a use limit and revocation, stored hashed in SQLite. A "use" is a
 * distinct client (by key): a client that reconnects with the token it joined with does not use
 * it up again. Tokens are 192 random bits, so a plain sha256 is enough to store them.
 */
export class JoinTokenStore implements JoinTokens {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  create(opts: TokenOptions = {}): CreatedToken {
    const t = newToken(opts, this.now());
    this.db
      .prepare('INSERT INTO join_tokens (id, hash, label, created_at, expires_at, max_uses) VALUES (?, ?, ?, ?, ?, ?)')
      .run(t.id, t.hash, t.label, t.createdAt, t.expiresAt, t.maxUses);
    return { ...this.get(t.id)!, token: t.token };
  }

  list(): JoinTokenInfo[] {
    return (this.db.prepare(`${SELECT} ORDER BY t.created_at, t.rowid`).all() as TokenRow[]).map((r) => this.info(r));
  }

  get(id: string): JoinTokenInfo | undefined {
    const r = this.db.prepare(`${SELECT} WHERE t.id = ?`).get(id) as TokenRow | undefined;
    return r && this.info(r);
  }

  /** Returns false when there is no such token. Revoking twice keeps the first time. */
  revoke(id: string): boolean {
    const r = this.db.prepare('UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(this.now(), id);
    return r.changes > 0;
  }

  /**
   * Admits `clientId` with `token`, counting the use, or throws `unauthorized` saying why.
   * Returns false when the token is not one of this store's (another authority may know it).
   */
  admit(token: string, clientId: string): boolean {
    return this.db.transaction(() => {
      const row = this.db.prepare(`${SELECT} WHERE t.hash = ?`).get(hashToken(token)) as TokenRow | undefined;
      if (!row) return false;
      const now = this.now();
      const known = this.db.prepare('SELECT 1 FROM join_token_uses WHERE token_id = ? AND client_id = ?').get(row.id, clientId) !== undefined;
      const refusal = tokenRefusal(row, now, !known);
      if (refusal) throw refusal;
      if (known) return true;
      this.db.prepare('INSERT INTO join_token_uses (token_id, client_id, used_at) VALUES (?, ?, ?)').run(row.id, clientId, now);
      return true;
    })();
  }

  private info(r: TokenRow): JoinTokenInfo {
    return tokenInfo(r, this.now());
  }
}

const SELECT = `SELECT t.id, t.label, t.created_at, t.expires_at, t.max_uses, t.revoked_at,
  (SELECT COUNT(*) FROM join_token_uses u WHERE u.token_id = t.id) AS uses FROM join_tokens t`;
