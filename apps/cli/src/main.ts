import { FedlinkError } from '@fedlink/protocol';
import { DatasetError, ModelError } from '@fedlink/ml';
import { UsageError } from './args.js';
import { clusterCommand, clusterSpec } from './commands/cluster.js';
import { edgeCommand, edgeSpec } from './commands/edge.js';
import { joinCommand, joinSpec } from './commands/join.js';
import { keygenCommand, keygenSpec } from './commands/keygen.js';
import { privacyCommand, privacySpec } from './commands/privacy.js';
import { runsCommand, runsSpec } from './commands/runs.js';
import { tokenCommand, tokenSpec } from './commands/token.js';
import { serveCommand, serveSpec } from './commands/serve.js';
import { simulateCommand, simulateSpec } from './commands/simulate.js';

const COMMANDS = {
  serve: { spec: serveSpec, run: serveCommand },
  join: { spec: joinSpec, run: joinCommand },
  edge: { spec: edgeSpec, run: edgeCommand },
  simulate: { spec: simulateSpec, run: simulateCommand },
  keygen: { spec: keygenSpec, run: keygenCommand },
  runs: { spec: runsSpec, run: runsCommand },
  token: { spec: tokenSpec, run: tokenCommand },
  privacy: { spec: privacySpec, run: privacyCommand },
  cluster: { spec: clusterSpec, run: clusterCommand },
} as const;

function usage(): string {
  const rows = Object.values(COMMANDS).map(({ spec }) => `  ${spec.name.padEnd(10)}${spec.summary}`);
  return `fedlink: federated learning with TensorFlow.js\n\nUsage: fedlink <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun 'fedlink <command> --help' for a command's options.\n`;
}

/** Entry point of the `fedlink` command. Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name as keyof typeof COMMANDS];
  if (!cmd) {
    process.stderr.write(`fedlink: unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fedlink ${name}: ${err.message} (see fedlink ${name} --help)\n`);
      return 2;
    }
    if (err instanceof FedlinkError) {
      process.stderr.write(`fedlink ${name}: ${err.code}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof DatasetError || err instanceof ModelError || err instanceof RangeError) {
      process.stderr.write(`fedlink ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
