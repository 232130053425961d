import { type CoordinatorConfig, DEFAULT_RUN, type EdgeConfig, type LogFormat, type LogLevel, createLog, edgeStrategyProblem, loadOrCreateJoinToken, startEdge } from '@fedlink/coordinator';
import { EdgeSummarySchema } from '@fedlink/protocol';
import { type CommandSpec, type OptionSpec, type ParsedValue, UsageError, parseArgs } from '../args.js';
import { collectionSettingsFrom, runOptions, selectionFrom, strategyFrom } from '../run-options.js';
import { readCa } from './join.js';
import { gatewayConfigFrom, readTls, serveSpec } from './serve.js';

/** The option specs of `from` named in `names`, in that order. */
function pick(from: Record<string, OptionSpec>, names: readonly string[]): Record<string, OptionSpec> {
  return Object.fromEntries(names.map((n) => [n, from[n]!]));
}

const RUN = runOptions({ roundTimeout: '10m', waitTimeout: '10m' });

export const edgeSpec: CommandSpec = {
  name: 'edge',
  summary: "Start an edge aggregator: a coordinator for its own clients, one client of its parent (a tree's FedAvg equals the flat one).",
  usage: 'fedlink edge --upstream <url> --token <parent token> --server-key <parent fingerprint> [options]',
  options: {
    upstream: { type: 'string', placeholder: '<url>', description: "the parent's URL (a coordinator or another edge; required)" },
    token: { type: 'string', placeholder: '<token>', description: "join token of the parent (what its fedlink serve printed)" },
    'server-key': { type: 'string', placeholder: '<fingerprint>', description: "pin the parent's key fingerprint (refuse any other)" },
    ca: { type: 'string', placeholder: '<file>', description: 'trust this PEM CA certificate for an https parent' },
    name: { type: 'string', description: "name the parent's dashboard shows for this edge" },
    'dashboard-url': { type: 'string', placeholder: '<url>', description: "http(s) URL the parent's dashboard links to for this edge's own dashboard (default: the URL it listens on)" },
    ...pick(serveSpec.options, ['host']),
    port: { type: 'int', min: 0, max: 65535, default: 7080, description: 'port for this edge\'s own clients (0 picks a free one)' },
    'state-dir': { type: 'string', default: './.fedlink-edge', description: "this edge's identity (its key to clients and to its parent), tokens, run database" },
    'client-token': { type: 'list', default: [], placeholder: '<token>', description: "join token this edge accepts from its clients (repeatable; default: one stored in the state dir)" },
    ...pick(serveSpec.options, ['open', 'allow-keys', 'max-connections', 'max-pending', 'max-dashboard', 'max-per-address', 'handshake-timeout', 'tls-cert', 'tls-key', 'hello-rate', 'join-rate', 'private-status']),
    strategy: { ...RUN.strategy!, description: "what this edge runs over its own clients' updates: a preset or JSON spec whose aggregator (and clip wrapper) reduces its group; the server optimizer is the root's, so an edge takes fedavg, fedprox, fedmedian, fedtrimmedavg, krum, multikrum, bulyan, centered-clip (or --aggregator/--clip)" },
    ...pick(RUN, ['aggregator', 'clip']),
    ...pick(RUN, ['fraction', 'min-fit', 'min-available', 'over-select', 'round-timeout', 'wait-timeout', 'encoding', 'topk-fraction', 'max-update-norm', 'secure-aggregation', 'secagg-clip', 'secagg-stage-timeout', 'secagg-dropout']),
    'log-level': serveSpec.options['log-level']!,
    'log-format': serveSpec.options['log-format']!,
  },
  examples: [
    'fedlink edge --upstream http://root:7070 --token flj_... --server-key 1a2b:... --port 7080 --min-fit 3',
    'fedlink edge --upstream http://root:7070 --token flj_... --server-key 1a2b:... --secure-aggregation --min-fit 3   # SecAgg+ with its clients',
    'fedlink edge --upstream http://root:7070 --token flj_... --server-key 1a2b:... --aggregator median --min-fit 3   # a robust aggregate of its group',
    'fedlink edge --upstream http://edge-a:7080 --token flj_... --server-key 3c4d:... --port 7081   # an edge of an edge',
  ],
};

/** This edge's run settings for its own clients: selection, deadlines, wire and secure aggregation (the parent decides model, rounds and training). */
export function edgeRunFrom(v: Record<string, ParsedValue>): EdgeConfig['downstream']['run'] {
  const { model: _model, rounds: _rounds, ...defaults } = DEFAULT_RUN;
  // The edge's aggregator runs over its group (a robust one too); the parent averages the groups.
  const strategy = strategyFrom(v.strategy as string, undefined, v);
  const problem = edgeStrategyProblem(strategy);
  if (problem !== undefined) throw new UsageError(`--strategy/--aggregator: ${problem}`);
  return { ...defaults, dataset: 'edge', strategy, selection: selectionFrom(v), ...collectionSettingsFrom(v) };
}

export async function edgeCommand(argv: string[]): Promise<number> {
  const v = parseArgs(edgeSpec, argv);
  if (!v) return 0;
  const upstream = v.upstream as string | undefined;
  if (!upstream) throw new UsageError("--upstream is required (the parent's URL)");
  let scheme: string | undefined;
  try {
    scheme = new URL(upstream).protocol;
  } catch {
    /* refused below */
  }
  if (scheme !== 'http:' && scheme !== 'https:') throw new UsageError(`--upstream: '${upstream}' is not an http(s) URL`);
  const dashboardUrl = v['dashboard-url'] as string | undefined;
  if (dashboardUrl !== undefined && !EdgeSummarySchema.shape.dashboardUrl.safeParse(dashboardUrl).success) throw new UsageError(`--dashboard-url: '${dashboardUrl}' is not an http(s) URL`);
  const stateDir = v['state-dir'] as string;
  const tokens = v['client-token'] as string[];
  const tls = await readTls(v['tls-cert'] as string | undefined, v['tls-key'] as string | undefined);
  const ca = v.ca !== undefined ? await readCa(v.ca as string) : undefined;
  if (ca !== undefined && !upstream.startsWith('https:')) throw new UsageError('--ca applies to an https:// --upstream');
  const run = edgeRunFrom(v);
  // Only once the flags are valid: the state dir is created here.
  const joinTokens = tokens.length > 0 ? tokens : [await loadOrCreateJoinToken(stateDir)];
  const level = v['log-level'] as LogLevel;
  const format = (v['log-format'] as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const downstream: Omit<CoordinatorConfig, 'run'> = { ...gatewayConfigFrom(v, stateDir, joinTokens, tls), logLevel: level };
  const out = (s: string) => process.stdout.write(s + '\n');
  const edge = await startEdge(
    {
      upstream: {
        url: upstream,
        ...(v.token !== undefined ? { token: v.token as string } : {}),
        ...(v['server-key'] !== undefined ? { serverFingerprint: v['server-key'] as string } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(v.name !== undefined ? { name: v.name as string } : {}),
        ...(dashboardUrl !== undefined ? { dashboardUrl } : {}),
      },
      downstream: { ...downstream, run },
      onRound: (round, o) => out('error' in o ? `round ${round}: no report to the parent: ${o.error}` : `round ${round}: reported ${o.contributors} client(s), ${o.numExamples} examples to the parent`),
    },
    { log: createLog(level, format) },
  );
  edge.client.on('rejected', (round, e) => out(`round ${round}: the parent refused this edge's update: ${e.code}: ${e.message}`));
  const coord = await edge.ready;
  const token = joinTokens[0]!;
  out('fedlink edge aggregator');
  out(`  parent       ${upstream}  (joined as ${edge.client.clientId}, key ${edge.client.serverFingerprint ?? '?'})`);
  out(`  run          ${coord.runId}  (${coord.context.model.name}, ${coord.context.settings.rounds} rounds, the parent's)`);
  out(`  listening    ${coord.url}   dashboard: ${coord.url}/   REST: ${coord.url}/api/status`);
  out(`  fingerprint  ${coord.fingerprint}`);
  const allowKeys = downstream.allowKeysFile;
  out(`  join token   ${allowKeys ? `(allowlist mode: keys in ${allowKeys})` : v.open ? '(open: no token needed)' : token}`);
  out(`  join:        npx fedlink join --server ${coord.url}${v.open || allowKeys ? '' : ` --token ${token}`} --server-key ${coord.fingerprint} --data mnist --shard 1/10`);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void edge.close().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  const end = await edge.done;
  out(`parent's run ${end.status} after ${end.rounds} round(s)`);
  await edge.close();
  return 0;
}
