import { writeFile } from 'node:fs/promises';
import { parsePartitionSpec } from '@fedlink/core';
import { partitionColumnOf } from '@fedlink/ml';
import { DATA_SPECS, isTableSpec, parseImageShape } from '@fedlink/ml/node';
import { tabularOptions } from '../tabular-data.js';
import { consoleLog, type LogLevel } from '@fedlink/coordinator';
import { type CommandSpec, UsageError, parseArgs } from '../args.js';
import { BACKEND_CHOICES } from '../backend.js';
import { LOG_LEVELS, formatRoundLine, runOptions, runSettingsFrom } from '../run-options.js';
import { TEXT_READ_OPTIONS, VOCAB_OPTIONS, isTextSpec, textLoadOptionsFrom } from '../text-options.js';
import { ATTACK_FORMS, type AttackSpec, parseAttack } from '../simulate/attacks.js';
import { simulate } from '../simulate/simulate.js';

export const simulateSpec: CommandSpec = {
  name: 'simulate',
  summary: 'Run a coordinator and many real clients over loopback, print one line per round, write results.',
  usage: 'fedlink simulate [options]',
  options: {
    clients: { type: 'int', min: 1, default: 10, description: 'simulated clients' },
    data: { type: 'string', default: 'mnist', placeholder: DATA_SPECS, description: 'dataset (train split is partitioned, test split evaluates)' },
    'image-size': { type: 'string', default: '32x32x3', placeholder: '<h>x<w>x<1|3>', description: 'images:<dir>: the size photos are resized to (the model\'s input: 28x28x1 for mlp/cnn, 32x32x3 for cifar-cnn)' },
    partition: { type: 'string', default: 'iid', placeholder: 'iid|shards|dirichlet:<alpha>|by:<column>|natural', description: 'how the training data is split across clients; by:<column> (csv): one client per distinct value of the column, as LEAF (--clients must be that count); natural (text): one client per speaker or file (topics: per author, 12), largest first' },
    ...TEXT_READ_OPTIONS,
    ...VOCAB_OPTIONS,
    ...tabularOptions(),
    ...runOptions({ model: 'mlp', rounds: 10, roundTimeout: '10m', waitTimeout: '10m' }),
    'client-holdout': { type: 'number', min: 0, max: 0.9, default: 0, description: 'federated evaluation: each client holds out this share of its examples and evaluates the global model it receives on it every round (client_eval_acc)' },
    'no-server-test': { type: 'boolean', default: false, description: 'the coordinator keeps no test data (as a real deployment): evaluation comes only from --client-holdout' },
    dropout: { type: 'number', min: 0, max: 1, default: 0, description: 'chance a selected client vanishes at a random point of a round' },
    attack: { type: 'string', placeholder: ATTACK_FORMS.join('|'), description: 'Byzantine clients: scale:<k> sends -k times its delta, gaussian noise, flipped labels, ALIE (Baruch et al. 2019)' },
    attackers: { type: 'number', min: 0, max: 1, default: 0.2, description: 'share of clients that attack (drawn from --seed; in the results JSON, never told to the coordinator)' },
    workers: { type: 'int', min: 1, description: 'client worker processes (default: one per core)' },
    'join-rate': { type: 'number', min: 0, default: 0, description: "the coordinator's join rate, joins a second (0 = no limit); clients retry when it tells them" },
    'intake-workers': { type: 'int', min: 0, description: "the coordinator's threads that open and check updates (0 = on its event loop; default: one per core beyond the first, at most 4)" },
    backend: { type: 'string', choices: BACKEND_CHOICES, default: 'auto', description: "clients' TensorFlow.js backend" },
    edges: { type: 'int', min: 1, description: "a two-level tree: this many edge aggregators (in-process, each its own coordinator and port) between the root and the clients; the root's FedAvg is the flat one" },
    nodes: { type: 'int', min: 1, description: 'a cluster: this many coordinator nodes (in-process, each its own port) sharing --redis and --database; clients spread over them' },
    redis: { type: 'string', placeholder: 'redis://host:6379', description: 'with --nodes: the Redis the nodes share' },
    database: { type: 'string', placeholder: 'postgres://user@host/db', description: 'with --nodes: the PostgreSQL the nodes record to (use an empty database: an unfinished run there is resumed)' },
    'save-model': { type: 'string', placeholder: '<dir>', description: 'write the final global model there as tfjs artifacts (model.json, weights.bin)' },
    json: { type: 'string', placeholder: '<file>', description: 'write config and per-round metrics as JSON' },
    'log-level': { type: 'string', choices: LOG_LEVELS, default: 'silent', description: 'coordinator log verbosity (stderr)' },
  },
  examples: [
    'fedlink simulate --clients 10 --rounds 10 --model mlp --partition iid --json out.json',
    'fedlink simulate --clients 100 --fraction 0.1 --partition dirichlet:0.3 --rounds 50',
    'fedlink simulate --clients 20 --attack scale:10 --attackers 0.2 --aggregator median',
    'fedlink simulate --model cifar-cnn --data images:./photos --image-size 32x32x3 --clients 4   # a folder of photos, one sub-folder per class',
    'fedlink simulate --model char-lstm --data shakespeare --partition natural --clients 8 --text-stride 20   # LEAF-style: one client per speaker',
    'fedlink simulate --model text-classifier --data topics --partition natural --clients 12 --rounds 10 --lr 2 --epochs 2   # text classification (4 topics), one client per author',
    'fedlink simulate --model tabular-mlp --data housing --clients 5 --rounds 20 --lr 0.05   # tabular regression (RMSE) on the synthetic housing table',
    'fedlink simulate --model recommender --data ratings --partition by:user --clients 60 --fraction 0.25 --lr 0.5   # matrix factorisation, one client per user',
    'fedlink simulate --client-holdout 0.2 --no-server-test   # federated evaluation: clients evaluate the global model on their own held-out data',
    'fedlink simulate --edges 3 --clients 9 --rounds 3 --save-model ./model   # root -> 3 edges -> 9 clients',
    'fedlink simulate --nodes 3 --redis redis://127.0.0.1:6379 --database postgres://fedlink@127.0.0.1/sim --clients 30 --save-model ./model',
  ],
};

export async function simulateCommand(argv: string[]): Promise<number> {
  const v = parseArgs(simulateSpec, argv);
  if (!v) return 0;
  try {
    if (v.partition === 'natural') {
      if (!isTextSpec(v.data as string)) throw new Error('natural: only text data (text:<file-or-dir>, shakespeare, topics) has speakers, files or authors to split by');
    } else if (partitionColumnOf(v.partition as string) === undefined) parsePartitionSpec(v.partition as string);
    else if (!isTableSpec(v.data as string)) throw new Error('by:<column> needs csv data (--data csv:<file>, housing, ratings)');
  } catch (e) {
    throw new UsageError(`--partition: ${(e as Error).message}`);
  }
  let attack: AttackSpec | undefined;
  try {
    if (v.attack !== undefined) attack = parseAttack(v.attack as string);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const clients = v.clients as number;
  const edges = v.edges as number | undefined;
  if (edges !== undefined && edges > clients) throw new UsageError(`--edges (${edges}) exceeds --clients (${clients}): every edge needs a client`);
  const nodes = v.nodes as number | undefined;
  if (nodes !== undefined && (v.redis === undefined || v.database === undefined)) throw new UsageError('--nodes needs --redis and --database');
  if (nodes === undefined && (v.redis !== undefined || v.database !== undefined)) throw new UsageError('--redis and --database go with --nodes');
  if (nodes !== undefined && edges !== undefined) throw new UsageError('--nodes and --edges do not combine');
  const run = runSettingsFrom(v, v.data as string);
  if (run.selection.minAvailable > clients) throw new UsageError(`--min-available/--min-fit (${run.selection.minAvailable}) exceeds --clients (${clients})`);
  // Simulations start once every client is connected (--wait-timeout, 10 min by default: 10,000
  // clients took 144 s to join on 2 cores), and give up after 3 failed attempts.
  const settings = {
    ...run,
    selection: { ...run.selection, minAvailable: Math.max(run.selection.minAvailable, clients), ...(run.secureAggregation ? { minFit: Math.max(2, run.selection.minFit) } : {}) },
    maxAbandonedAttempts: 3,
    // The graph must survive the dropout the simulation injects (unless set explicitly).
    ...(run.secureAggregation && (v.dropout as number) > 0 && run.secaggExpectedDropout === undefined ? { secaggExpectedDropout: v.dropout as number } : {}),
  };
  const out = (s: string) => process.stdout.write(s + '\n');
  const level = v['log-level'] as LogLevel;
  // A tree: each edge's report of a round is printed under the root's line for it, and the root's
  // line counts leaf clients: reported (the root's record) out of the leaves the edges selected.
  const reports = new Map<number, string[]>();
  const leavesSelected = new Map<number, number>();
  const result = await simulate({
    clients,
    data: v.data as string,
    imageShape: parseImageShape(v['image-size'] as string),
    ...(isTextSpec(v.data as string) ? { text: textLoadOptionsFrom(v) } : {}),
    holdout: v['client-holdout'] as number,
    serverTest: !(v['no-server-test'] as boolean),
    partition: v.partition as string,
    run: settings,
    table: { ...(v.label !== undefined ? { label: v.label as string } : {}), ...(v.features !== undefined ? { features: v.features as string } : {}), task: v.task as string },
    ...(v.workers !== undefined ? { workers: v.workers as number } : {}),
    ...(v['join-rate'] ? { joinRate: v['join-rate'] as number } : {}),
    ...(v['intake-workers'] !== undefined ? { intakeWorkers: v['intake-workers'] as number } : {}),
    backend: v.backend as string,
    dropout: v.dropout as number,
    ...(attack ? { attack: { spec: attack, share: v.attackers as number } } : {}),
    ...(level !== 'silent' ? { log: consoleLog(level) } : {}),
    ...(edges !== undefined ? { edges } : {}),
    ...(nodes !== undefined ? { cluster: { nodes, redis: v.redis as string, database: v.database as string } } : {}),
    ...(v['save-model'] !== undefined ? { saveModel: v['save-model'] as string } : {}),
    onInfo: out,
    onRound: (r) => {
      const leaves = leavesSelected.get(r.round);
      leavesSelected.delete(r.round);
      out(formatRoundLine(edges !== undefined && leaves !== undefined ? { ...r, selected: leaves } : r, settings.rounds));
      const lines = reports.get(r.round);
      reports.delete(r.round);
      if (lines) out(`  edges  ${lines.sort().join('   ')}   bytes into root ${(r.bytesIn / 1024).toFixed(0)} KiB`);
    },
    onEdgeReport: (edge, report) => {
      const text = 'error' in report ? `${edge}: none (${report.error})` : `${edge}: ${report.contributors} clients/${report.examples} ex`;
      reports.set(report.round, [...(reports.get(report.round) ?? []), text]);
      leavesSelected.set(report.round, (leavesSelected.get(report.round) ?? 0) + (report.selected ?? 0));
    },
  });
  const completed = result.rounds.filter((r) => r.status === 'completed');
  const mean = completed.reduce((s, r) => s + r.seconds, 0) / Math.max(1, completed.length);
  out(
    `summary: ${result.final.status}, ${result.final.rounds}/${settings.rounds} rounds, ${result.final.testRmse !== undefined ? `final test RMSE ${result.final.testRmse.toFixed(4)} MAE ${result.final.testMae?.toFixed(4) ?? '-'}` : `final test accuracy ${result.final.testAccuracy?.toFixed(4) ?? '-'}`}, ` +
      `${mean.toFixed(1)} s/round, ${result.totalSeconds.toFixed(1)} s total, ` +
      `connect ${result.connect.seconds !== undefined ? `${result.connect.seconds.toFixed(1)} s` : `incomplete (${result.connect.joined}/${clients} joined)`}, ` +
      `peak RSS ${result.peakRssMiB.coordinator} MiB coordinator + ${result.peakRssMiB.workers} MiB workers`,
  );
  if (v.json) {
    await writeFile(v.json as string, JSON.stringify(result, null, 2) + '\n');
    out(`results written to ${v.json}`);
  }
  return result.final.status === 'finished' ? 0 : 1;
}
