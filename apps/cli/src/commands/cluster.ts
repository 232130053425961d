import { readClusterStatus } from '@fedlink/coordinator';
import { type CommandSpec, UsageError, helpText, parseArgs } from '../args.js';
import { expectWords, splitPositionals } from '../positionals.js';

export const clusterSpec: CommandSpec = {
  name: 'cluster',
  summary: 'Inspect a cluster of coordinator nodes (serve --cluster): nodes, leader, clients, open round.',
  usage: 'fedlink cluster status --redis redis://host:6379 [--cluster-name default] [--json]',
  options: {
    redis: { type: 'string', placeholder: 'redis://host:6379', description: 'the Redis the nodes share (required)' },
    'cluster-name': { type: 'string', default: 'default', description: 'the cluster name the nodes were started with' },
    json: { type: 'boolean', default: false, description: 'print JSON' },
  },
  examples: ['fedlink cluster status --redis redis://127.0.0.1:6379', 'fedlink cluster status --redis redis://redis:6379 --json'],
};

export async function clusterCommand(argv: string[]): Promise<number> {
  const { words, rest } = splitPositionals(argv);
  const v = parseArgs(clusterSpec, rest);
  if (!v) return 0;
  const [sub, ...args] = words;
  if (!sub) {
    process.stdout.write(helpText(clusterSpec));
    return 2;
  }
  if (sub !== 'status') throw new UsageError(`unknown sub-command '${sub}' (status)`);
  expectWords(args, 0, 'fedlink cluster status');
  const redis = v.redis as string | undefined;
  if (redis === undefined) throw new UsageError('--redis is required');
  let s;
  try {
    s = await readClusterStatus(redis, v['cluster-name'] as string);
  } catch (e) {
    process.stderr.write(`fedlink cluster: cannot read ${redis}: ${(e as Error).message}\n`);
    return 1;
  }
  const out = (x: string) => process.stdout.write(x + '\n');
  if (v.json) {
    out(JSON.stringify(s, null, 2));
    return 0;
  }
  out(`cluster   ${s.cluster}`);
  out(`run       ${s.runId ?? '(none yet)'}${s.end ? `  ${s.end.status} after ${s.end.rounds} round(s)` : ''}`);
  out(`leader    ${s.leader ? `${s.leader.nodeId} (fencing token ${s.leader.token})` : '(none: lease free)'}`);
  out(`nodes     ${s.nodes.length} live${s.lapsed.length > 0 ? `, lapsed: ${s.lapsed.join(', ')}` : ''}`);
  for (const n of s.nodes) out(`  ${n.nodeId.padEnd(20)} ${String(n.clients).padStart(6)} client(s)  ${n.url}${s.leader?.nodeId === n.nodeId ? '  (leader)' : ''}`);
  out(`clients   ${s.nodes.reduce((a, n) => a + n.clients, 0)}`);
  out(
    s.openRound
      ? `open      round ${s.openRound.round} attempt ${s.openRound.attempt}, ${s.openRound.reported} of ${s.openRound.target} updates in, answered by ${s.openRound.answered.length}/${s.nodes.length} node(s), deadline ${new Date(s.openRound.deadline).toISOString()}`
      : 'open      (no round open)',
  );
  return 0;
}
