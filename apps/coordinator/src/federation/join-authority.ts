import { FedlinkError } from '@fedlink/protocol';

/** Decides whether a hello may join: by token, by client key, or both. */
export interface JoinAuthority {
  /** Throws `unauthorized` with a reason a person can act on. */
  authorize(token: string | undefined, clientId: string): void | Promise<void>;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** What `JoinPolicy` consults; each part is optional. */
export interface JoinPolicyOptions {
  /** Anyone may join (no token), unless an allowlist is set. */
  open: boolean;
  /** Tokens given at start (`--token`, the state dir's join-token file). */
  staticTokens: readonly string[];
  /** Tokens created with `fedlink token create` / the REST API. */
  tokenStore?: { admit(token: string, clientId: string): boolean | Promise<boolean> };
  /** Allowlist mode: only these client keys may join, with or without a token. */
  allowlist?: { has(clientId: string): boolean };
}

/**
 * The coordinator's join rule. With an allowlist, the key decides alone (devices enrolled by
 * key need no token). Otherwise a hello needs a static token or a live stored token.
 */
export class JoinPolicy implements JoinAuthority {
  constructor(private readonly options: JoinPolicyOptions) {}

  authorize(token: string | undefined, clientId: string): void | Promise<void> {
    const { allowlist, open, staticTokens, tokenStore } = this.options;
    if (allowlist) {
      if (!allowlist.has(clientId)) throw new FedlinkError('unauthorized', `client ${clientId} is not on this coordinator's key allowlist`);
      return;
    }
    if (open) return;
    if (token === undefined || token === '') throw new FedlinkError('unauthorized', 'this run needs a join token (--token)');
    if (staticTokens.some((t) => constantTimeEqual(t, token))) return;
    // Stored tokens are looked up by hash, so no secret is compared byte by byte here.
    const refused = () => new FedlinkError('unauthorized', 'join token is not valid for this coordinator');
    const admitted = tokenStore?.admit(token, clientId);
    if (admitted instanceof Promise) {
      return admitted.then((ok) => {
        if (!ok) throw refused();
      });
    }
    if (admitted) return;
    throw refused();
  }
}
