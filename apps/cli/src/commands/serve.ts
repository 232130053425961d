import { describeStrategy } from '@fedlink/core';
import { readFile } from 'node:fs/promises';
import { CONNECTION_DEFAULTS, type CoordinatorConfig, LOG_FORMATS, type Log, type LogFormat, type LogLevel, RECEIVE_BUDGET_BYTES, type RunningCoordinator, createLog, loadOrCreateJoinToken, startClusterNode, startCoordinator } from '@fedlink/coordinator';
import { DATA_SPECS, isTableSpec, loadDataset, parseImageShape } from '@fedlink/ml/node';
import { type CommandSpec, type ParsedValue, UsageError, parseArgs } from '../args.js';
import { LOG_LEVELS, formatRoundLine, modelRefFrom, runOptions, runSettingsFrom } from '../run-options.js';
import { coordinatorTable, readStatsFile, tabularOptions } from '../tabular-data.js';
import { TEXT_READ_OPTIONS, VOCAB_OPTIONS, textLoadOptionsFrom } from '../text-options.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Start a coordinator: runs federated rounds for clients that join it.',
  usage: 'fedlink serve [options]',
  options: {
    host: { type: 'string', default: '127.0.0.1', description: 'address to listen on (0.0.0.0 to accept other machines)' },
    port: { type: 'int', min: 0, max: 65535, default: 7070, description: 'port (0 picks a free one)' },
    'state-dir': { type: 'string', default: './.fedlink', description: 'where identity, tokens, the run database and checkpoints live' },
    data: { type: 'string', default: 'mnist', placeholder: `${DATA_SPECS}|none`, description: "held-out test data the coordinator evaluates on; none: no server-side evaluation (clients joined with --holdout evaluate the global model on their own data, client_eval_acc)" },
    'image-size': { type: 'string', default: '32x32x3', placeholder: '<h>x<w>x<1|3>', description: 'images:<dir>: the size photos are resized to (the model\'s input: 28x28x1 for mlp/cnn, 32x32x3 for cifar-cnn)' },
    ...TEXT_READ_OPTIONS,
    ...VOCAB_OPTIONS,
    ...tabularOptions(),
    stats: { type: 'string', placeholder: '<file>', description: "csv data: the normalisation statistics (JSON: label, task, classes or target mean/std, features) instead of computing them from --data; with --data none the coordinator needs them to serve a csv run" },
    ...runOptions({ model: 'cnn', rounds: 20 }),
    token: { type: 'list', default: [], placeholder: '<token>', description: 'join token to accept (repeatable; default: one stored in the state dir)' },
    open: { type: 'boolean', default: false, description: 'let clients join without a token (trusted networks only)' },
    'allow-keys': { type: 'string', placeholder: '<file>', description: 'allowlist mode: only client keys listed in the file may join (client ids or base64 signing keys, one a line)' },
    'max-connections': { type: 'int', min: 1, default: 1000, description: 'most joined clients at once' },
    'max-pending': { type: 'int', min: 1, default: CONNECTION_DEFAULTS.maxPending, description: "most connections that haven't joined yet (each has --handshake-timeout to do so)" },
    'max-dashboard': { type: 'int', min: 1, default: CONNECTION_DEFAULTS.maxDashboard, description: 'most dashboard viewers at once' },
    'max-per-address': { type: 'int', min: 0, default: CONNECTION_DEFAULTS.maxPerAddress, description: 'most unjoined or dashboard connections from one address (0 = no cap)' },
    'handshake-timeout': { type: 'duration', default: `${CONNECTION_DEFAULTS.handshakeTimeoutMs / 1000}s`, description: "close a connection that hasn't joined this long after connecting" },
    'tls-cert': { type: 'string', placeholder: '<file>', description: 'serve https and wss with this PEM certificate (chain); needs --tls-key' },
    'tls-key': { type: 'string', placeholder: '<file>', description: 'PEM private key of --tls-cert' },
    'hello-rate': { type: 'int', min: 0, default: 120, description: 'hellos per minute per address, also the burst (0 = no limit)' },
    'join-rate': { type: 'number', min: 0, default: 0, description: 'joins admitted a second over all addresses; a client over it is told when to retry (0 = no limit)' },
    'intake-workers': { type: 'int', min: 0, description: 'worker threads that open and check sealed updates (0 = on the event loop; default: one per core beyond the first, at most 4)' },
    'receive-budget': { type: 'int', min: 1, default: RECEIVE_BUDGET_BYTES / 2 ** 20, description: 'MiB of uploaded updates held at once (waiting, being opened); past it client sockets are not read until half is left' },
    'private-status': { type: 'boolean', default: false, description: 'require the admin token for /api/status, /api/rounds, /api/model and /metrics too' },
    'keep-checkpoints': { type: 'int', min: 0, default: 5, description: 'checkpoints kept per run, newest first (0 = all)' },
    fresh: { type: 'boolean', default: false, description: 'start a new run even if the state dir holds an unfinished one (it is marked stopped)' },
    database: { type: 'string', placeholder: 'postgres://user@host/db', description: 'record runs, rounds, clients and checkpoints in PostgreSQL instead of the state dir (resume reads it too)' },
    cluster: { type: 'string', placeholder: 'redis://host:6379', description: 'run as one node of a cluster sharing this Redis (needs --database; every node the same options and state-dir identity)' },
    'cluster-name': { type: 'string', default: 'default', description: 'name of the cluster in Redis (several clusters may share one Redis)' },
    'node-id': { type: 'string', placeholder: '<id>', description: 'this node\'s name in the cluster (default: a random one)' },
    'exit-on-finish': { type: 'boolean', default: false, description: 'exit when the run ends (default: keep serving the API)' },
    'log-level': { type: 'string', choices: LOG_LEVELS, default: 'info', description: 'log verbosity (logs go to stderr)' },
    'log-format': { type: 'string', choices: LOG_FORMATS, placeholder: 'json|pretty', description: 'log lines as JSON objects or for people (default: pretty on a terminal, else json)' },
  },
  examples: [
    'fedlink serve                                  # CNN on MNIST, 20 rounds, port 7070; resumes an unfinished run',
    'fedlink serve --model mlp --rounds 50 --min-fit 5 --fraction 0.5',
    'fedlink serve --model ./my-model/model.json --data idx:./my-data   # your own tfjs Layers model (model.json + weight files)',
    'fedlink serve --model char-lstm --data shakespeare   # next-character LSTM on the shipped Shakespeare; clients get its vocabulary in the welcome',
    "fedlink serve --model text-classifier --data text:./mail   # text classification: one sub-folder of .txt files per class; the word vocabulary and class names go in the welcome",
    'fedlink serve --model text-classifier --data topics   # the generated 4-topic corpus (12 authors; join --data topics --partition natural --shard i/12)',
    'fedlink serve --model tabular-mlp --data csv:./houses.csv --label price --features area,rooms,district:cat --task regression   # your own CSV: stats sent to clients',
    'fedlink serve --model recommender --data ratings --exit-on-finish   # matrix factorisation on the synthetic (user,item,rating) table',
    'fedlink serve --host 0.0.0.0 --token my-secret-token --private-status',
    'fedlink serve --allow-keys devices.txt --log-format json',
    'fedlink serve --database postgres://fedlink@db-host/fedlink   # runs and checkpoints in PostgreSQL',
    'fedlink serve --cluster redis://redis:6379 --database postgres://fedlink@db/fedlink --host 0.0.0.0   # one node of N (docs/OPERATIONS.md)',
    'fedlink serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem   # https/wss (docs/SECURITY.md: a private CA)',
  ],
};

/**
 * The gateway part of a coordinator's config from serve's options (edge takes the same ones):
 * address, state dir, tokens, connection limits, TLS, hello rate, status privacy, allowlist.
 */
export function gatewayConfigFrom(
  v: Record<string, ParsedValue>,
  stateDir: string,
  joinTokens: string[],
  tls: CoordinatorConfig['tls'] | undefined,
): Omit<CoordinatorConfig, 'run' | 'logLevel'> {
  const allowKeys = v['allow-keys'] as string | undefined;
  return {
    host: v.host as string,
    port: v.port as number,
    stateDir,
    joinTokens,
    open: v.open as boolean,
    maxConnections: v['max-connections'] as number,
    maxPending: v['max-pending'] as number,
    maxDashboard: v['max-dashboard'] as number,
    maxPerAddress: v['max-per-address'] as number,
    handshakeTimeoutMs: v['handshake-timeout'] as number,
    ...(tls ? { tls } : {}),
    helloRatePerMinute: v['hello-rate'] as number,
    ...(v['join-rate'] ? { joinRatePerSecond: v['join-rate'] as number } : {}),
    ...(v['intake-workers'] !== undefined ? { intakeWorkers: v['intake-workers'] as number } : {}),
    // Commands sharing this config without the flag (edge) keep the coordinator's default.
    ...(v['receive-budget'] !== undefined ? { receiveBudgetBytes: (v['receive-budget'] as number) * 2 ** 20 } : {}),
    publicStatus: !(v['private-status'] as boolean),
    ...(allowKeys !== undefined ? { allowKeysFile: allowKeys } : {}),
  };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const v = parseArgs(serveSpec, argv);
  if (!v) return 0;
  const stateDir = v['state-dir'] as string;
  // --data none: the coordinator holds no test data; joined clients with --holdout evaluate instead.
  const spec = v.data as string;
  const statsFile = v.stats as string | undefined;
  // csv data: the coordinator fixes the statistics every client encodes its rows with (sent in the welcome).
  const table = isTableSpec(spec) ? await coordinatorTable(v, spec, modelRefFrom(v.model as string), statsFile) : undefined;
  const stats = table?.stats ?? (spec === 'none' && statsFile !== undefined ? await readStatsFile(statsFile) : undefined);
  if (statsFile !== undefined && stats === undefined) throw new UsageError('--stats goes with csv data (--data csv:<file>, housing, ratings) or --data none');
  const data = spec === 'none' || table ? undefined : await loadDataset(spec, { imageShape: parseImageShape(v['image-size'] as string), text: textLoadOptionsFrom(v) });
  const settings = { ...runSettingsFrom(v, table?.split.name ?? data?.name ?? 'none'), ...(stats ? { data: stats } : {}) };
  const tokens = v.token as string[];
  const tls = await readTls(v['tls-cert'] as string | undefined, v['tls-key'] as string | undefined);
  const joinTokens = tokens.length > 0 ? tokens : [await loadOrCreateJoinToken(stateDir)];
  const level = v['log-level'] as LogLevel;
  const format = (v['log-format'] as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const log = createLog(level, format);
  const config: CoordinatorConfig = {
    ...gatewayConfigFrom(v, stateDir, joinTokens, tls),
    run: settings,
    ...(data ? { testData: data.test } : table ? { testData: table.test } : {}),
    ...(data?.text ? { text: data.text.spec } : {}),
    logLevel: level,
    keepCheckpoints: v['keep-checkpoints'] as number,
    fresh: v.fresh as boolean,
    ...(v.database !== undefined ? { database: v.database as string } : {}),
  };
  const out = (s: string) => process.stdout.write(s + '\n');
  if (v.cluster !== undefined) return serveClusterNode(v, config, log, out);

  // POST /api/runs records a new run and asks for a restart on it; the same port is kept.
  let newRun: (() => void) | undefined;
  const start = (c: CoordinatorConfig) => startCoordinator(c, { log, onNewRun: () => newRun?.() });
  let coord = await start(config);
  banner(coord, v, joinTokens[0]!, config.allowKeysFile, out);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping: no new connections, open round abandoned, last checkpoint kept; run again to resume\n`);
    // Graceful: the run stays resumable, the process exits 0.
    void coord.close({ suspend: true }).then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`shutdown failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  for (;;) {
    const next = new Promise<'new-run'>((resolve) => (newRun = () => resolve('new-run')));
    const end = await coord.done;
    if (stopping) return new Promise<number>(() => undefined); // shutdown() exits
    out(`run ${end.status} after ${end.rounds} round(s)${end.metrics.testAccuracy !== undefined ? `, test accuracy ${end.metrics.testAccuracy.toFixed(4)}` : ''}`);
    out(`final model: ${coord.url}/api/model (tf.loadLayersModel), or: fedlink runs export ${end.runId} --state-dir ${stateDir} --out <dir>`);
    if (v['exit-on-finish']) {
      await coord.close();
      return 0;
    }
    out('still serving the API (POST /api/runs starts a new run); Ctrl-C to exit');
    await next;
    if (stopping) return new Promise<number>(() => undefined);
    await coord.close();
    coord = await start({ ...config, port: coord.port, fresh: false });
    banner(coord, v, joinTokens[0]!, config.allowKeysFile, out);
  }
}

/** `--tls-cert` and `--tls-key` together, read as PEM; either alone is a usage error. */
export async function readTls(certFile: string | undefined, keyFile: string | undefined): Promise<{ cert: string; key: string } | undefined> {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  const read = async (flag: string, file: string, marker: RegExp): Promise<string> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError(`--${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (!marker.test(text)) throw new UsageError(`--${flag}: ${file} is not a PEM file of the expected kind`);
    return text;
  };
  return {
    cert: await read('tls-cert', certFile, /-----BEGIN CERTIFICATE-----/),
    key: await read('tls-key', keyFile, /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/),
  };
}

function banner(coord: RunningCoordinator, v: Record<string, unknown>, token: string, allowKeys: string | undefined, out: (s: string) => void): void {
  const m = coord.context.model;
  const s = coord.context.settings;
  out('fedlink coordinator');
  out(`  run          ${coord.runId}  (${m.name}, ${m.numParams.toLocaleString('en-US')} parameters, ${describeStrategy(s.strategy)}, ${s.rounds} rounds)`);
  if (coord.resumedFrom !== undefined) out(`  resumed      after round ${coord.resumedFrom} of ${s.rounds} (from its checkpoint)`);
  if (coord.records && !coord.archive) out(`  records      ${coord.records.location}`);
  out(`  listening    ${coord.url}   REST: ${coord.url}/api/status   metrics: ${coord.url}/metrics`);
  out(`  dashboard    ${coord.url}/`);
  out(`  fingerprint  ${coord.fingerprint}`);
  if (m.hash !== undefined) out(`  model hash   ${m.hash}`);
  const text = coord.context.text;
  if (text) out(`  vocabulary   ${text.tokens.length} ${text.unit}s, ${text.task}, ${text.seqLength}-${text.unit} windows${text.classes ? `, classes ${text.classes.join(', ')}` : ''}, hash ${text.hash}`);
  out(`  join token   ${allowKeys ? `(allowlist mode: keys in ${allowKeys})` : v.open ? '(open run: no token needed)' : token}`);
  out(`  admin token  ${coord.adminToken}   (Authorization: Bearer ...; also in the state dir's admin-token file)`);
  out('');
  out('Join as a device client (each device takes its own shard):');
  out(
    `  npx fedlink join --server ${coord.url}${v.open || allowKeys ? '' : ` --token ${token}`} --server-key ${coord.fingerprint}${m.hash !== undefined ? ` --model-hash ${m.hash}` : ''}${text ? ` --vocab-hash ${text.hash} --data ${s.dataset === 'topics' ? 'topics --partition natural --shard 1/12' : 'text:<your text>'}${text.seqLength !== 80 ? ` --seq-length ${text.seqLength}` : ''}` : s.data ? ` --data ${s.dataset} --label ${s.data.label} --shard 1/10` : ' --data mnist --shard 1/10'}`,
  );
  if (coord.url.startsWith('https:')) out("  (add --ca <your CA's PEM file> if the certificate is not from a CA the device already trusts)");
  out('Or from a browser (the data stays in the tab):');
  out(`  ${coord.url}/join${v.open || allowKeys ? '' : `?token=${encodeURIComponent(token)}`}`);
  out('');
  coord.engine.on('roundEnded', (r) => out(formatRoundLine(r, s.rounds)));
}

/** `serve --cluster`: this process is one node; the node holding the lease runs the rounds. */
async function serveClusterNode(v: Record<string, ParsedValue>, config: CoordinatorConfig, log: Log, out: (s: string) => void): Promise<number> {
  const database = config.database;
  if (database === undefined) throw new UsageError('--cluster needs --database postgres://... (the nodes share their records there)');
  const nodeId = v['node-id'] as string | undefined;
  const node = await startClusterNode({ coordinator: { ...config, database }, redisUrl: v.cluster as string, database, cluster: v['cluster-name'] as string, ...(nodeId ? { nodeId } : {}), log });
  const settings = node.coordinator.context.settings;
  out('fedlink cluster node');
  out(`  node         ${node.nodeId}  (cluster ${v['cluster-name'] as string})`);
  out(`  run          ${node.runId}  (${settings.model}, ${settings.rounds} rounds)`);
  out(`  listening    ${node.coordinator.url}`);
  out(`  fingerprint  ${node.coordinator.fingerprint}`);
  node.on('leading', (token) => out(`leading (fencing token ${token})`));
  node.on('roundEnded', (r) => out(formatRoundLine(r, settings.rounds)));
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void node.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  const end = await node.done;
  out(`run ${end.status} after ${end.rounds} round(s)`);
  if (v['exit-on-finish']) {
    await node.close();
    return 0;
  }
  return new Promise<number>(() => undefined);
}
