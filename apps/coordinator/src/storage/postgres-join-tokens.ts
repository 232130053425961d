import type pg from 'pg';
import { type CreatedToken, type JoinTokenInfo, type JoinTokens, type TokenOptions, type TokenRow, hashToken, newToken, tokenInfo, tokenRefusal } from './join-tokens.js';

const SELECT = `SELECT t.id, t.label, t.created_at, t.expires_at, t.max_uses, t.revoked_at,
  (SELECT COUNT(*)::int FROM join_token_uses u WHERE u.token_id = t.id) AS uses FROM join_tokens t`;

/**
 * Join tokens in the PostgreSQL a cluster's nodes share (tables join_tokens, join_token_uses;
 * PostgresRunRecords' migrations create them): a token created against any node admits on every
 * node, and a client that joined with it is recognised by its key on whichever node it reconnects
 * to, its use counted once. Admission locks the token's row, so two nodes admitting at once
 * can't both take its last use.
 */
export class PostgresJoinTokens implements JoinTokens {
  constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => number = Date.now,
  ) {}

  async create(opts: TokenOptions = {}): Promise<CreatedToken> {
    const t = newToken(opts, this.now());
    await this.pool.query('INSERT INTO join_tokens (id, hash, label, created_at, expires_at, max_uses) VALUES ($1, $2, $3, $4, $5, $6)', [t.id, t.hash, t.label, t.createdAt, t.expiresAt, t.maxUses]);
    return { ...(await this.get(t.id))!, token: t.token };
  }

  async list(): Promise<JoinTokenInfo[]> {
    const r = await this.pool.query<TokenRow>(`${SELECT} ORDER BY t.created_at, t.id`);
    const now = this.now();
    return r.rows.map((row) => tokenInfo(row, now));
  }

  async get(id: string): Promise<JoinTokenInfo | undefined> {
    const r = await this.pool.query<TokenRow>(`${SELECT} WHERE t.id = $1`, [id]);
    return r.rows[0] && tokenInfo(r.rows[0], this.now());
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.pool.query('UPDATE join_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [this.now(), id]);
    return r.rowCount === 1;
  }

  async admit(token: string, clientId: string): Promise<boolean> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      // The row lock orders concurrent admissions of one token across nodes.
      const locked = await c.query<{ id: string }>('SELECT id FROM join_tokens WHERE hash = $1 FOR UPDATE', [hashToken(token)]);
      const id = locked.rows[0]?.id;
      if (id === undefined) {
        await c.query('ROLLBACK');
        return false;
      }
      const row = (await c.query<TokenRow>(`${SELECT} WHERE t.id = $1`, [id])).rows[0]!;
      const now = this.now();
      const known = (await c.query('SELECT 1 FROM join_token_uses WHERE token_id = $1 AND client_id = $2', [id, clientId])).rowCount === 1;
      const refusal = tokenRefusal(row, now, !known);
      if (refusal) throw refusal;
      if (!known) await c.query('INSERT INTO join_token_uses (token_id, client_id, used_at) VALUES ($1, $2, $3)', [id, clientId, now]);
      await c.query('COMMIT');
      return true;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }
}
