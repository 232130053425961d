import { existsSync } from 'node:fs';
import { type JoinTokens, JoinTokenStore, PostgresRunRecords, ensureStateDir, openDatabase } from '@fedlink/coordinator';
import { type CommandSpec, UsageError, helpText, parseArgs } from '../args.js';
import { expectWords, splitPositionals } from '../positionals.js';

export const tokenSpec: CommandSpec = {
  name: 'token',
  summary: 'Manage join tokens (stored hashed in the state dir, or a cluster\'s PostgreSQL with --database; a running coordinator sees changes at once).',
  usage: 'fedlink token create [--ttl 24h] [--uses 100] [--label <text>] | list | revoke <token-id>  [options]',
  options: {
    'state-dir': { type: 'string', default: './.fedlink', description: 'the coordinator state directory' },
    database: { type: 'string', placeholder: '<postgres-url>', description: "a cluster's PostgreSQL (serve --cluster --database): its tokens are valid on every node (instead of --state-dir)" },
    ttl: { type: 'duration', placeholder: '<duration>', description: 'create: valid for this long (e.g. 24h, 7d; default: no expiry)' },
    uses: { type: 'int', min: 1, description: 'create: most distinct clients that may join with it (default: no limit)' },
    label: { type: 'string', description: 'create: a note shown by list' },
    json: { type: 'boolean', default: false, description: 'print JSON' },
  },
  examples: ['fedlink token create --ttl 24h --uses 100 --label "ward 3 tablets"', 'fedlink token list', 'fedlink token revoke tok_1a2b3c4d5e6f', 'fedlink token create --database postgres://fedlink@db/fedlink --uses 30'],
};

export async function tokenCommand(argv: string[]): Promise<number> {
  const { words, rest } = splitPositionals(argv);
  const v = parseArgs(tokenSpec, rest);
  if (!v) return 0;
  const [sub, ...args] = words;
  if (!sub) {
    process.stdout.write(helpText(tokenSpec));
    return 2;
  }
  if (!['create', 'list', 'revoke'].includes(sub)) throw new UsageError(`unknown sub-command '${sub}' (create, list, revoke)`);
  const opened = await openTokens(v.database as string | undefined, v['state-dir'] as string, sub === 'create');
  const out = (s: string) => process.stdout.write(s + '\n');
  const when = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().slice(0, 19) + 'Z');
  try {
    const store = opened.store;
    if (sub === 'create') {
      expectWords(args, 0, 'fedlink token create');
      const t = await store.create({
        ...(v.ttl !== undefined ? { ttlMs: v.ttl as number } : {}),
        ...(v.uses !== undefined ? { maxUses: v.uses as number } : {}),
        ...(v.label !== undefined ? { label: v.label as string } : {}),
      });
      if (v.json) return out(JSON.stringify(t, null, 2)), 0;
      out(t.token);
      out(`id ${t.id}, expires ${t.expiresAt === null ? 'never' : when(t.expiresAt)}, uses ${t.maxUses ?? 'unlimited'} (the token is shown only now; it is stored hashed)`);
      return 0;
    }
    if (sub === 'list') {
      expectWords(args, 0, 'fedlink token list');
      const list = await store.list();
      if (v.json) return out(JSON.stringify(list, null, 2)), 0;
      if (list.length === 0) return out('no join tokens (fedlink token create makes one)'), 0;
      out('id                 state     uses       expires               label');
      for (const t of list) out(`${t.id.padEnd(19)}${t.state.padEnd(10)}${`${t.uses}/${t.maxUses ?? '∞'}`.padEnd(11)}${when(t.expiresAt).padEnd(22)}${t.label ?? ''}`.trimEnd());
      return 0;
    }
    expectWords(args, 1, 'fedlink token revoke <token-id>');
    if (!(await store.revoke(args[0]!))) throw new UsageError(`no token ${args[0]} (fedlink token list shows them)`);
    out(`revoked ${args[0]}: clients can no longer join with it`);
    return 0;
  } finally {
    await opened.close();
  }
}

/** The state dir's SQLite tokens, or with a database URL the cluster's PostgreSQL ones. */
async function openTokens(database: string | undefined, stateDir: string, create: boolean): Promise<{ store: JoinTokens; close(): Promise<void> }> {
  if (database !== undefined) {
    const records = await PostgresRunRecords.open(database);
    return { store: records.joinTokens(), close: () => records.close() };
  }
  if (create) await ensureStateDir(stateDir);
  else if (!existsSync(stateDir)) throw new UsageError(`no state directory ${stateDir} (--state-dir)`);
  const db = openDatabase(stateDir);
  return {
    store: new JoinTokenStore(db),
    close: async () => {
      db.close();
    },
  };
}
