import { readFile } from 'node:fs/promises';
import { FedlinkClient, TabularTrainer, TextTrainer, TfjsTrainer, type Trainer } from '@fedlink/client';
import { parsePartitionSpec, partition } from '@fedlink/core';
import { identityFromJson } from '@fedlink/crypto';
import { exampleCount, partitionByGroup, partitionColumnOf, splitHoldout, subset, subsetText, tableSubset } from '@fedlink/ml';
import { DATA_SPECS, isTableSpec, loadDataset, loadTable, parseImageShape } from '@fedlink/ml/node';
import { clientLabel, partitionTable } from '../tabular-data.js';
import { type CommandSpec, UsageError, parseArgs } from '../args.js';
import { BACKEND_CHOICES, type BackendChoice, selectBackendInfo } from '../backend.js';
import { TEXT_READ_OPTIONS, clientTextSource, isTextSpec, textReadOptionsFrom } from '../text-options.js';

export const joinSpec: CommandSpec = {
  name: 'join',
  summary: 'Join a coordinator as a device client: train locally on private data, send sealed deltas.',
  usage: 'fedlink join --server <url> [options]',
  options: {
    server: { type: 'string', placeholder: '<url>', description: 'coordinator URL (required)' },
    token: { type: 'string', placeholder: '<token>', description: 'join token printed by fedlink serve' },
    'server-key': { type: 'string', placeholder: '<fingerprint>', description: "pin the coordinator's key fingerprint (refuse any other)" },
    'model-hash': { type: 'string', placeholder: '<sha256>', description: 'refuse a run whose model does not have this hash (serve prints it; a model_mismatch error)' },
    data: { type: 'string', default: 'mnist', placeholder: DATA_SPECS, description: 'local training data' },
    'image-size': { type: 'string', default: '32x32x3', placeholder: '<h>x<w>x<1|3>', description: 'images:<dir>: the size photos are resized to (the model\'s input: 28x28x1 for mlp/cnn, 32x32x3 for cifar-cnn)' },
    ...TEXT_READ_OPTIONS,
    'vocab-hash': { type: 'string', placeholder: '<sha256>', description: "text: refuse a run whose vocabulary does not have this hash (serve prints it; a vocab_mismatch error). The text is always encoded with the run's vocabulary" },
    // csv data: only the label is read here (to cut shards); features, task and statistics come in the welcome.
    label: { type: 'string', placeholder: '<column>', description: "csv data: the label column, which shards and dirichlet cut by (default: the source's own: housing price, ratings rating); the features, the task and the statistics rows are encoded with come from the coordinator" },
    shard: { type: 'string', placeholder: '<i>/<n>', description: 'train on shard i of n (1-based) of the data' },
    partition: { type: 'string', default: 'iid', placeholder: 'iid|shards|dirichlet:<a>|by:<column>|natural', description: 'how the data is cut into shards; by:<column> (csv): one shard per distinct value of the column, --shard i/n with n that count; natural (text): shard i is the i-th largest speaker or file (topics: author)' },
    holdout: { type: 'number', min: 0, max: 0.9, default: 0, description: "federated evaluation: hold out this share of the device's examples and evaluate each round's global model on it (reported with the update)" },
    'partition-seed': { type: 'int', default: 1, description: 'seed of the shard split (same on every device)' },
    'local-dp-noise': { type: 'number', min: 0, description: 'local differential privacy this device enforces itself: noise multiplier z (N(0, (zC)^2) per entry)' },
    'local-dp-clip': { type: 'number', min: 0, default: 1, description: 'local DP: L2 clipping bound C of this device\'s delta' },
    backend: { type: 'string', choices: BACKEND_CHOICES, default: 'auto', description: 'TensorFlow.js backend' },
    identity: { type: 'string', placeholder: '<file>', description: 'identity file from fedlink keygen (default: a new key each start)' },
    name: { type: 'string', description: 'name shown on the dashboard' },
    rounds: { type: 'int', min: 1, description: 'leave after taking part in this many rounds' },
    ca: { type: 'string', placeholder: '<file>', description: 'trust this PEM CA certificate for an https coordinator (a private or self-signed CA)' },
  },
  examples: [
    'fedlink join --server http://127.0.0.1:7070 --token flj_... --data mnist --shard 2/10',
    'fedlink join --server http://127.0.0.1:7070 --token flj_... --data csv:./my-houses.csv --label price   # csv rows, encoded with the coordinator\'s stats',
    'fedlink join --server https://coordinator.lan:7070 --ca ca.pem --token flj_... --server-key 1a2b:...',
    'fedlink join --server http://127.0.0.1:7070 --token flj_... --data text:./my-letters.txt   # encoded with the run\'s vocabulary (from the welcome)',
    'fedlink join --server http://127.0.0.1:7070 --token flj_... --data shakespeare --partition natural --shard 3/20   # the 3rd largest speaker',
    "fedlink join --server http://127.0.0.1:7070 --token flj_... --data text:./my-mail   # classification: one sub-folder of .txt files per class, classes named as the run's",
    'fedlink join --server http://127.0.0.1:7070 --token flj_... --data topics --partition natural --shard 2/12   # the generated topics corpus, the 2nd most prolific author',
  ],
};

export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 1 && index <= count)) throw new UsageError(`--shard: '${text}' is not <i>/<n> with 1 <= i <= n`);
  return { index, count };
}

/** A PEM CA certificate file, read for `--ca` (a usage error when unreadable or not a certificate). */
export async function readCa(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--ca: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca: ${file} is not a PEM certificate`);
  return text;
}

export async function joinCommand(argv: string[]): Promise<number> {
  const v = parseArgs(joinSpec, argv);
  if (!v) return 0;
  if (!v.server) throw new UsageError('--server is required (the URL fedlink serve printed)');
  try {
    new URL(v.server as string);
  } catch {
    throw new UsageError(`--server: '${v.server}' is not a URL`);
  }
  const shard = v.shard ? parseShard(v.shard as string) : undefined;
  const text = isTextSpec(v.data as string);
  const tabular = isTableSpec(v.data as string);
  if (v.partition === 'natural' && !text) throw new UsageError('--partition natural: only text data (text:<file-or-dir>, shakespeare, topics) has speakers, files or authors to split by');
  if (v['vocab-hash'] !== undefined && !text) throw new UsageError('--vocab-hash applies to text data (text:<file-or-dir>, shakespeare, topics)');
  let spec;
  try {
    if (partitionColumnOf(v.partition as string) === undefined) spec = parsePartitionSpec(v.partition === 'natural' ? 'iid' : (v.partition as string));
    else if (!tabular) throw new Error('by:<column> needs csv data (--data csv:<file>, housing, ratings)');
  } catch (e) {
    throw new UsageError(`--partition: ${(e as Error).message}`);
  }
  if (text && shard && spec && spec.kind !== 'iid') throw new UsageError(`--partition ${v.partition as string}: text shards are iid or natural (labels are only known once the run's vocabulary arrives)`);
  const ca = v.ca !== undefined ? await readCa(v.ca as string) : undefined;
  if (ca !== undefined && !(v.server as string).startsWith('https:')) throw new UsageError('--ca applies to an https:// --server');
  const identity = v.identity ? identityFromJson(JSON.parse(await readFile(v.identity as string, 'utf8'))) : undefined;
  const { name: backend, detail: backendDetail } = await selectBackendInfo(v.backend as BackendChoice);
  const out = (s: string) => process.stdout.write(s + '\n');
  let trainer: Trainer;
  let count: number;
  if (text) {
    // Raw text: encoded once the welcome brings the run's vocabulary (TextTrainer), never with one of this device's.
    const source = await clientTextSource(v.data as string, textReadOptionsFrom(v));
    const n = exampleCount(source.examples);
    const picked = !shard
      ? undefined
      : v.partition === 'natural'
        ? partitionByGroup(source.groups, shard.count, source.groupNames)[shard.index - 1]!
        : partition(new Uint8Array(n), shard.count, spec!, v['partition-seed'] as number)[shard.index - 1]!;
    const mine = picked ? subsetText(source.examples, picked) : source.examples;
    const share = v.holdout as number;
    trainer = new TextTrainer(mine, { ...(share > 0 ? { holdout: share, holdoutSeed: v['partition-seed'] as number } : {}), ...(v['vocab-hash'] !== undefined ? { vocabHash: v['vocab-hash'] as string } : {}) });
    count = exampleCount(mine);
    out(`backend ${backend} (${backendDetail}); data ${v.data as string}${shard ? ` shard ${shard.index}/${shard.count}` : ''}: ${count} ${source.task} examples${share > 0 ? ` (a ${share} share held out for evaluation)` : ''}, encoded with the run's vocabulary once it arrives (they never leave this device)`);
  } else if (tabular) {
    // csv rows stay raw until the welcome: they are encoded with the coordinator's statistics.
    const table = await loadTable(v.data as string);
    const rows = shard ? tableSubset(table.train, partitionTable(table.train, clientLabel(v, table), v.partition as string, shard.count, v['partition-seed'] as number, table.name)[shard.index - 1]!) : table.train;
    const holdout = v.holdout as number;
    trainer = new TabularTrainer(rows, { ...(holdout > 0 ? { holdout, holdoutSeed: v['partition-seed'] as number } : {}), source: table.name });
    count = trainer.numExamples;
    out(`backend ${backend} (${backendDetail}); data ${table.name}${shard ? ` shard ${shard.index}/${shard.count}` : ''}: ${count} training rows${holdout > 0 ? ` + ${rows.rows.length - count} held out for evaluation` : ''}, encoded with the coordinator's statistics at join (they never leave this device)`);
  } else {
    const data = await loadDataset(v.data as string, { imageShape: parseImageShape(v['image-size'] as string) });
    const mine = shard ? subset(data.train, partition(data.train.labels, shard.count, spec!, v['partition-seed'] as number)[shard.index - 1]!) : data.train;
    const held = (v.holdout as number) > 0 ? splitHoldout(mine, v.holdout as number, v['partition-seed'] as number) : undefined;
    count = mine.count;
    trainer = held ? new TfjsTrainer(held.train, { holdout: held.holdout }) : new TfjsTrainer(mine);
    out(`backend ${backend} (${backendDetail}); data ${data.name}${shard ? ` shard ${shard.index}/${shard.count}` : ''}: ${held ? held.train.count : mine.count} training examples${held ? ` + ${held.holdout.count} held out for evaluation` : ''} (they never leave this device)`);
  }

  const client = new FedlinkClient({
    url: v.server as string,
    trainer,
    platform: 'node',
    backend,
    ...(v.token !== undefined ? { token: v.token as string } : {}),
    ...(v['server-key'] !== undefined ? { serverFingerprint: v['server-key'] as string } : {}),
    ...(v['model-hash'] !== undefined ? { modelHash: v['model-hash'] as string } : {}),
    ...(identity ? { identity } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(v.name !== undefined ? { name: v.name as string } : {}),
    ...(v.rounds !== undefined ? { maxRounds: v.rounds as number } : {}),
    ...(v['local-dp-noise'] !== undefined ? { localPrivacy: { clip: v['local-dp-clip'] as number, noiseMultiplier: v['local-dp-noise'] as number } } : {}),
  });
  client.on('welcome', (w) => {
    out(`joined run ${w.runId} as ${w.clientId}: model ${w.model.name} (${w.model.numParams.toLocaleString('en-US')} params${w.model.hash ? `, hash ${w.model.hash}` : ''}), round ${w.round}/${w.rounds}`);
    if (w.text) out(`vocabulary ${w.text.tokens.length} ${w.text.unit}s (hash ${w.text.hash}${v['vocab-hash'] ? ', pinned' : ''})`);
    out(`coordinator key ${w.server.fingerprint}${v['server-key'] ? ' (pinned)' : ' (not pinned: pass --server-key to pin it)'}`);
  });
  client.on('trained', (round, m) => out(`round ${round}: trained ${count} examples in ${(m.trainSeconds ?? 0).toFixed(1)}s, loss ${m.loss?.toFixed(4) ?? 'n/a'}`));
  client.on('uploaded', (u) => out(`round ${u.round}: sent ${(u.bytes / 1024).toFixed(0)} KiB sealed update`));
  client.on('rejected', (round, e) => out(`round ${round}: update not used: ${e.code}: ${e.message}`));
  client.on('roundEnd', (e) =>
    out(
      `round ${e.round} ${e.status}${e.metrics.testAccuracy !== undefined ? `: global test accuracy ${e.metrics.testAccuracy.toFixed(4)}` : ''}${e.metrics.testRmse !== undefined ? `: global test RMSE ${e.metrics.testRmse.toFixed(4)}` : ''}${e.reason ? ` (${e.reason})` : ''}`,
    ),
  );
  client.on('state', (s, detail) => {
    if (s === 'connecting' && detail) out(detail);
  });
  let runEnded = false;
  client.on('runEnd', () => (runEnded = true));
  process.on('SIGINT', () => client.stop());
  process.on('SIGTERM', () => client.stop());
  const end = await client.run();
  if (!runEnded) {
    // This device left (Ctrl-C or --rounds); the run itself goes on.
    out(end.runId === 'none' ? 'left before joining a run' : `left run ${end.runId} after taking part in ${end.rounds} round(s); the run goes on`);
  } else out(`run ${end.status}${end.metrics.testAccuracy !== undefined ? `: final test accuracy ${end.metrics.testAccuracy.toFixed(4)}` : ''}`);
  return 0;
}
