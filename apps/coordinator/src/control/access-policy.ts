import { constantTimeEqual } from '../federation/join-authority.js';

/**
 * Who may call which HTTP endpoint. Control (start/stop runs, tokens) always needs the admin
 * token; read-only endpoints (status, rounds, model, metrics) are public unless `publicStatus`
 * is false (`fedlink serve --private-status`).
 */
export class AccessPolicy {
  constructor(
    private readonly adminToken: string,
    readonly publicStatus: boolean,
  ) {}

  /** `Authorization: Bearer <admin token>`. */
  isAdmin(authorization: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return m !== null && constantTimeEqual(m[1]!, this.adminToken);
  }

  mayRead(authorization: string | undefined): boolean {
    return this.publicStatus || this.isAdmin(authorization);
  }
}
