import { startCoordinator, type LogLevel } from '@fedlink/coordinator';
import { loadDataset } from '@fedlink/ml/node';
import { type CommandSpec, parseArgs } from '../args.js';
import { LOG_LEVELS, formatRoundLine, runOptions, runSettingsFrom } from '../run-options.js';
import { loadOrCreateJoinToken } from '@fedlink/coordinator';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Start a coordinator: runs federated rounds for clients that join it.',
  usage: 'fedlink serve [options]',
  options: {
    host: { type: 'string', default: '127.0.0.1', description: 'address to listen on (0.0.0.0 to accept other machines)' },
    port: { type: 'int', min: 0, max: 65535, default: 7070, description: 'port (0 picks a free one)' },
    'state-dir': { type: 'string', default: './.fedlink', description: 'where identity, tokens and run state live' },
    data: { type: 'string', default: 'mnist', placeholder: 'mnist|idx:<dir>', description: "held-out test data the coordinator evaluates on" },
    ...runOptions({ model: 'cnn', rounds: 20 }),
    token: { type: 'list', default: [], placeholder: '<token>', description: 'join token to accept (repeatable; default: one stored in the state dir)' },
    open: { type: 'boolean', default: false, description: 'let clients join without a token (trusted networks only)' },
    'max-connections': { type: 'int', min: 1, default: 1000, description: 'most simultaneous connections' },
    'exit-on-finish': { type: 'boolean', default: false, description: 'exit when the run ends (default: keep serving the API)' },
    'log-level': { type: 'string', choices: LOG_LEVELS, default: 'info', description: 'log verbosity (logs go to stderr)' },
  },
  examples: [
    'fedlink serve                                  # CNN on MNIST, 20 rounds, port 7070',
    'fedlink serve --model mlp --rounds 50 --min-fit 5 --fraction 0.5',
    'fedlink serve --host 0.0.0.0 --token my-secret-token',
  ],
};

export async function serveCommand(argv: string[]): Promise<number> {
  const v = parseArgs(serveSpec, argv);
  if (!v) return 0;
  const stateDir = v['state-dir'] as string;
  const data = await loadDataset(v.data as string);
  const settings = runSettingsFrom(v, data.name);
  const tokens = v.token as string[];
  const joinTokens = tokens.length > 0 ? tokens : [await loadOrCreateJoinToken(stateDir)];
  const coord = await startCoordinator({
    host: v.host as string,
    port: v.port as number,
    stateDir,
    run: settings,
    joinTokens,
    open: v.open as boolean,
    testData: data.test,
    maxConnections: v['max-connections'] as number,
    logLevel: v['log-level'] as LogLevel,
  });
  const out = (s: string) => process.stdout.write(s + '\n');
  const m = coord.context.model;
  out('fedlink coordinator');
  out(`  run          ${coord.runId}  (${m.name}, ${m.numParams.toLocaleString('en-US')} parameters, ${settings.strategy}, ${settings.rounds} rounds)`);
  out(`  listening    ${coord.url}   REST: ${coord.url}/api/status`);
  out(`  dashboard    ${coord.url}/`);
  out(`  fingerprint  ${coord.fingerprint}`);
  out(`  join token   ${v.open ? '(open run: no token needed)' : joinTokens[0]}`);
  out('');
  out('Join as a device client (each device takes its own shard):');
  out(
    `  npx fedlink join --server ${coord.url}${v.open ? '' : ` --token ${joinTokens[0]}`} --server-key ${coord.fingerprint} --data mnist --shard 1/10`,
  );
  out('Or from a browser (the data stays in the tab):');
  out(`  ${coord.url}/join${v.open ? '' : `?token=${encodeURIComponent(joinTokens[0]!)}`}`);
  out('');
  coord.engine.on('roundEnded', (r) => out(formatRoundLine(r, settings.rounds)));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping the run and closing connections...\n`);
    void coord.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const end = await coord.done;
  out(`run ${end.status} after ${end.rounds} round(s)${end.metrics.testAccuracy !== undefined ? `, test accuracy ${end.metrics.testAccuracy.toFixed(4)}` : ''}`);
  out(`final model: ${coord.url}/api/model (tf.loadLayersModel)`);
  if (v['exit-on-finish'] || stopping) {
    await coord.close();
    return 0;
  }
  out('still serving the API; Ctrl-C to exit');
  return new Promise<number>(() => undefined);
}
