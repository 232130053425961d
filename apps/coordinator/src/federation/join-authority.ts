import { FedlinkError } from '@fedlink/protocol';

/** Decides whether a hello may join: by token, by client key, or both. */
export interface JoinAuthority {
  /** Throws `unauthorized` with a reason a person can act on. */
  authorize(token: string | undefined, clientId: string): void | Promise<void>;
}

/** Fixed set of tokens given at start (or none with `open`). Compared in constant time. */
export class StaticTokenAuthority implements JoinAuthority {
  constructor(
    private readonly tokens: readonly string[],
    private readonly open: boolean,
  ) {}

  authorize(token: string | undefined): void {
    if (this.open) return;
    if (token === undefined || token === '') throw new FedlinkError('unauthorized', 'this run needs a join token (--token)');
    if (!this.tokens.some((t) => constantTimeEqual(t, token))) throw new FedlinkError('unauthorized', 'join token is not valid for this run');
  }
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
