import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { writeModelArtifacts } from '../model-files.js';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labelHistogram } from '@fedlink/core';
import { type RoundRecord, type RunSettings, randomToken, silentLog, startCoordinator, type Log } from '@fedlink/coordinator';
import { baselineOf, encodeTable } from '@fedlink/ml';
import type { TabularStats } from '@fedlink/protocol';
import { type LoadOptions, isTableSpec, loadDataset } from '@fedlink/ml/node';
import { coordinatorTable, partitionTable } from '../tabular-data.js';
import { type AttackSpec, alieZ, attackText, chooseAttackers } from './attacks.js';
import type { CollusionReply, WorkerReport, WorkerStart } from './protocol.js';
import { type EdgeRoundReport, type SimulatedEdges, type SimulatedTree, flatLeafSeeds, rootSettings, startSimulatedEdges } from './tree.js';
import { simulatedClientId } from './identity.js';
import { loopbackLimits } from './loopback.js';
import { partsOf } from './parts.js';
import { type ClusterUrls, type SimulatedCluster, startSimulatedCluster } from './cluster.js';

export interface SimulationOptions {
  clients: number;
  data: string;
  /** images:<dir>: the size photos are resized to (default 32x32x3). */
  imageShape?: [number, number, number];
  /** text:<file-or-dir>: how the text is cut and the vocabulary built (the coordinator ships it; clients encode with it). */
  text?: LoadOptions['text'];
  /** Federated evaluation: each client's held-out share. */
  holdout?: number;
  /** false: the coordinator does not evaluate on the test split (federated evaluation only). Default true. */
  serverTest?: boolean;
  partition: string;
  run: RunSettings;
  /** csv data: --label, --features, --task (the coordinator's statistics are computed from them). */
  table?: { label?: string; features?: string; task: string };
  /** Worker processes hosting the clients (default: one per core, at most one per client). */
  workers?: number;
  /** The coordinator's join rate (joins a second; clients told to retry later come back when it says). */
  joinRate?: number;
  /** The coordinator's intake worker threads (default: the coordinator's, defaultIntakeWorkers). */
  intakeWorkers?: number;
  backend?: string;
  /** Probability that a selected client vanishes at a random point of each round. */
  dropout?: number;
  /** Byzantine clients: the attack, and the share of clients (drawn from the seed) that run it. Never told to the coordinator. */
  attack?: { spec: AttackSpec; share: number };
  stateDir?: string;
  log?: Log;
  /** A two-level tree: this many in-process edge aggregators between the root and the clients (tree.ts). */
  edges?: number;
  /** Write the final global model here as tfjs artifacts (model.json, weights.bin). */
  saveModel?: string;
  /** A cluster: this many in-process coordinator nodes sharing the Redis and PostgreSQL given (cluster.ts). */
  cluster?: ClusterUrls;
  onRound?: (r: RoundRecord) => void;
  /** A tree: each edge's report to the root, as it is sent (before the root's round ends). */
  onEdgeReport?: (edge: string, report: EdgeRoundReport) => void;
  onInfo?: (line: string) => void;
}

export interface SimulationResult {
  config: {
    clients: number;
    data: string;
    partition: string;
    workers: number;
    backend: string;
    dropout: number;
    run: RunSettings;
  };
  dataset: { train: number; test: number };
  /** csv data: the trivial predictor's test figures (the train mean, or the majority class). */
  baseline?: ReturnType<typeof baselineOf>;
  /** csv data: the statistics the coordinator sent in the welcome. */
  tabular?: TabularStats;
  clientExamples: number[];
  clientLabelHistograms: number[][];
  rounds: RoundRecord[];
  final: { status: string; rounds: number; testAccuracy?: number; testLoss?: number; testRmse?: number; testMae?: number; epsilon?: number; delta?: number };
  totalSeconds: number;
  startedAt: string;
  /** Joining: how many clients got their first welcome, and when the last of them did (seconds after the workers started). */
  connect: { joined: number; seconds?: number };
  /** Peak resident memory (MiB): this process (coordinator, edges) and the sum of the worker processes' peaks. */
  peakRssMiB: { coordinator: number; workers: number };
  /** Individual updates the coordinator decrypted (0 with secure aggregation). */
  plaintextUpdatesOpened: number;
  /** The tree (edges, their clients, their reports each round); absent without --edges. */
  tree?: SimulatedTree;
  /** The simulated attack and who ran it (client indices of the partition); absent without --attack. */
  attack?: { kind: string; text: string; share: number; attackers: number[]; alieZ?: number };
}

/** ALIE attackers wait at most this long for each other in a round, then use what has arrived. */
const COLLUSION_WAIT_MS = 20_000;

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * One coordinator and `clients` real socket.io clients over loopback. The coordinator runs in
 * this process (it evaluates on the test split); clients run in worker processes that each
 * load the data and take their shards of the same seeded partition.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const started = Date.now();
  const info = options.onInfo ?? (() => undefined);
  // csv data: the coordinator computes the statistics from the train rows (sent in the welcome);
  // its test rows, encoded with them, are the test split; clients get their rows raw.
  const table = isTableSpec(options.data) ? await coordinatorTable(options.table ?? { task: 'auto' }, options.data, options.run.model) : undefined;
  const data = table
    ? { name: table.split.name, train: encodeTable(table.split.train, table.stats, options.data), test: table.test }
    : await loadDataset(options.data, { ...(options.imageShape ? { imageShape: options.imageShape } : {}), ...(options.text ? { text: options.text } : {}) });
  const parts = table
    ? partitionTable(table.split.train, table.stats.label, options.partition, options.clients, options.run.seed, options.data)
    : partsOf(data, options.partition, options.clients, options.run.seed);
  const workers = Math.max(1, Math.min(options.clients, options.workers ?? availableParallelism()));
  const token = randomToken();
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'fedlink-sim-')));
  const edgeCount = options.edges ?? 0;
  const withStats = table ? { ...options.run, data: table.stats } : options.run;
  const run = edgeCount > 0 ? rootSettings(withStats) : withStats;
  const coordinatorConfig = {
    host: '127.0.0.1',
    port: 0,
    stateDir,
    run,
    joinTokens: [token],
    open: false,
    ...(options.serverTest === false ? {} : { testData: data.test }),
    ...(data.text ? { text: data.text.spec } : {}),
    ...loopbackLimits(options.clients),
    ...(options.joinRate ? { joinRatePerSecond: options.joinRate } : {}),
    ...(options.intakeWorkers !== undefined ? { intakeWorkers: options.intakeWorkers } : {}),
    logLevel: 'silent' as const,
  };
  const cluster: SimulatedCluster | undefined = options.cluster ? await startSimulatedCluster(coordinatorConfig, options.cluster, options.log ?? silentLog, options.onRound) : undefined;
  // With a cluster, its first node stands for "the coordinator" (its model, its end); the rounds are the leader's.
  const coord = cluster ? cluster.nodes[0]!.coordinator : await startCoordinator(coordinatorConfig, { log: options.log ?? silentLog });
  info(`coordinator ${coord.url}  run ${coord.runId}  model ${options.run.model} (${coord.context.model.numParams.toLocaleString('en-US')} params)`);
  info(`data ${data.name}: ${data.train.count} train / ${data.test.count} test, partition ${options.partition} over ${options.clients} clients, ${workers} worker process(es)`);
  const baseline = table ? baselineOf(data.train, data.test) : undefined;
  if (baseline) {
    info(
      baseline.kind === 'mean'
        ? `baseline: the train mean as the prediction: test RMSE ${baseline.rmse.toFixed(4)}, MAE ${baseline.mae.toFixed(4)}`
        : `baseline: the majority class (${table!.stats.classes![baseline.label]}): test accuracy ${baseline.accuracy.toFixed(4)}`,
    );
  }
  if (cluster) info(`cluster: ${cluster.nodes.length} in-process node(s) on ${options.cluster!.redis} and ${options.cluster!.database.replace(/:[^:@/]*@/, '@')}: ${cluster.endpoints.map((e) => e.url).join(', ')}`);
  if (options.onRound && !cluster) coord.engine.on('roundEnded', options.onRound);
  let edges: SimulatedEdges | undefined;
  if (edgeCount > 0) {
    try {
      // Each leaf trains with the seed the flat run gives it, so the tree's weights are the flat run's.
      const ids = Array.from({ length: options.clients }, (_, i) => simulatedClientId(options.run.seed, i));
      edges = await startSimulatedEdges(coord, edgeCount, options.clients, options.run, token, options.log ?? silentLog, options.onEdgeReport, flatLeafSeeds(options.run, ids));
    } catch (err) {
      await coord.close();
      throw err;
    }
    info(`tree: ${edgeCount} in-process edge aggregator(s), ${edges.tree.edges.map((e) => `${e.name} ${e.url} (${e.clients.length} clients)`).join(', ')}`);
  }

  const children: ChildProcess[] = [];
  let backend = options.backend ?? 'auto';
  const attackers = options.attack ? chooseAttackers(options.clients, options.attack.share, options.run.seed) : [];
  const z = alieZ(options.clients, attackers.length);
  if (options.attack) info(`attack ${attackText(options.attack.spec)} by ${attackers.length} client(s): ${attackers.join(', ') || 'none'} (the coordinator is not told)`);
  // ALIE collusion board: each round's attackers' honest deltas, keyed by the round's global weights.
  const board = new Map<string, { deltas: Float32Array[]; from: ChildProcess[]; timer: NodeJS.Timeout }>();
  const release = (key: string): void => {
    const entry = board.get(key);
    if (!entry) return;
    board.delete(key);
    clearTimeout(entry.timer);
    const reply: CollusionReply = { type: 'collusion', key, deltas: entry.deltas };
    for (const c of new Set(entry.from)) if (c.connected) c.send(reply);
  };
  const collude = (child: ChildProcess, key: string, delta: Float32Array): void => {
    let entry = board.get(key);
    if (!entry) board.set(key, (entry = { deltas: [], from: [], timer: setTimeout(() => release(key), COLLUSION_WAIT_MS) }));
    entry.deltas.push(delta);
    entry.from.push(child);
    if (entry.deltas.length >= attackers.length) release(key);
  };
  const failures: string[] = [];
  // Joining progress: first welcomes reported by the workers, a line every 2 s until all are in.
  const joinedClients = new Set<number>();
  const workerPeakKiB = new Map<ChildProcess, number>();
  let forkedAt = Date.now();
  let connectSeconds: number | undefined;
  let lastProgress = forkedAt;
  const perSecond = (n: number, seconds: number): string => {
    const rate = n / seconds;
    return rate < 10 ? rate.toFixed(1) : rate.toFixed(0);
  };
  const onJoined = (client: number): void => {
    if (joinedClients.has(client)) return;
    joinedClients.add(client);
    const now = Date.now();
    if (joinedClients.size === options.clients) {
      connectSeconds = (now - forkedAt) / 1000;
      info(`connected: all ${options.clients} clients joined ${connectSeconds.toFixed(1)} s after the workers started (${perSecond(options.clients, connectSeconds)}/s)`);
    } else if (now - lastProgress >= 2_000) {
      lastProgress = now;
      info(`connecting: ${joinedClients.size}/${options.clients} clients joined (${perSecond(joinedClients.size, (now - forkedAt) / 1000)}/s)`);
    }
  };
  try {
    forkedAt = lastProgress = Date.now();
    const ready: Promise<void>[] = [];
    for (let w = 0; w < workers; w++) {
      const mine = Array.from({ length: options.clients }, (_, i) => i).filter((i) => i % workers === w);
      // Worker processes already use every core; split the cores among them for the kernel
      // threads of the fedlink backend rather than oversubscribe (unless the user chose).
      const kernelThreads = process.env.FEDLINK_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / workers)));
      const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', env: { ...process.env, FEDLINK_THREADS: kernelThreads } });
      children.push(child);
      ready.push(
        new Promise<void>((resolve, reject) => {
          child.on('message', (m: WorkerReport) => {
            if (m.type === 'ready') {
              backend = m.backend;
              resolve();
            } else if (m.type === 'client-error') failures.push(`client ${m.client}: ${m.message}`);
            else if (m.type === 'joined') onJoined(m.client);
            else if (m.type === 'rss') workerPeakKiB.set(child, Math.max(workerPeakKiB.get(child) ?? 0, m.maxRssKiB));
            else if (m.type === 'collude') collude(child, m.key, m.delta);
            else if (m.type === 'fatal') reject(new Error(`simulator worker failed: ${m.message}`));
          });
          child.on('exit', (code) => code !== 0 && reject(new Error(`simulator worker exited with code ${code}`)));
        }),
      );
      const start: WorkerStart = {
        type: 'start',
        url: coord.url,
        token,
        fingerprint: coord.fingerprint,
        ...(edges ? { edges: edges.endpoints } : cluster ? { edges: cluster.endpoints } : {}),
        data: options.data,
        ...(table ? { label: table.stats.label } : {}),
        ...(options.imageShape ? { imageShape: options.imageShape } : {}),
        ...(options.text ? { text: options.text } : {}),
        partition: options.partition,
        ...(options.holdout ? { holdout: options.holdout } : {}),
        seed: options.run.seed,
        numClients: options.clients,
        clients: mine,
        backend: options.backend ?? 'auto',
        dropout: options.dropout ?? 0,
        ...(options.attack ? { attack: options.attack.spec } : {}),
        attackers,
        alieZ: z,
      };
      child.send(start);
    }
    await Promise.all(ready);
    info(`clients training on backend ${backend}`);
    // A worker dying mid-run must not leave the run waiting forever: the round deadlines cover it.
    const end = await coord.done;
    for (const f of failures) info(`warning: ${f}`);
    if (cluster) {
      const final = await cluster.finalWeights();
      if (final) coord.context.model.weights = final;
    }
    if (options.saveModel) {
      await writeModelArtifacts(options.saveModel, coord.context.model);
      info(`final model written to ${options.saveModel} (model.json, weights.bin: tf.loadLayersModel('file://${options.saveModel}/model.json'))`);
    }
    const history = cluster ? cluster.rounds : coord.store.rounds;
    const last = [...history].reverse().find((r) => r.status === 'completed');
    return {
      config: { clients: options.clients, data: options.data, partition: options.partition, workers, backend, dropout: options.dropout ?? 0, run },
      ...(edges ? { tree: edges.tree } : {}),
      connect: { joined: joinedClients.size, ...(connectSeconds !== undefined ? { seconds: connectSeconds } : {}) },
      peakRssMiB: {
        coordinator: Math.round(process.resourceUsage().maxRSS / 1024),
        workers: Math.round([...workerPeakKiB.values()].reduce((a, b) => a + b, 0) / 1024),
      },
      plaintextUpdatesOpened: coord.engine.plaintextUpdatesOpened,
      ...(options.attack
        ? { attack: { kind: options.attack.spec.kind, text: attackText(options.attack.spec), share: options.attack.share, attackers, ...(options.attack.spec.kind === 'alie' ? { alieZ: options.attack.spec.z ?? z } : {}) } }
        : {}),
      dataset: { train: data.train.count, test: data.test.count },
      ...(baseline ? { baseline } : {}),
      ...(table ? { tabular: table.stats } : {}),
      clientExamples: parts.map((p) => p.length),
      clientLabelHistograms: parts.map((p) => labelHistogram(data.train.labels, p, data.train.numClasses)),
      rounds: history,
      final: {
        status: end.status,
        rounds: end.rounds,
        ...(last?.testAccuracy !== undefined ? { testAccuracy: last.testAccuracy } : {}),
        ...(last?.privacy ? { epsilon: last.privacy.epsilon, delta: last.privacy.delta } : {}),
        ...(last?.testLoss !== undefined ? { testLoss: last.testLoss } : {}),
        ...(last?.testRmse !== undefined ? { testRmse: last.testRmse, testMae: last.testMae } : {}),
      },
      totalSeconds: (Date.now() - started) / 1000,
      startedAt: new Date(started).toISOString(),
    };
  } finally {
    for (const key of [...board.keys()]) release(key);
    if (cluster) await cluster.close();
    else await coord.close();
    await edges?.close();
    for (const c of children) if (c.exitCode === null) c.kill();
    if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
  }
}

