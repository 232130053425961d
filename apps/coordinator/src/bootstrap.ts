import 'reflect-metadata';
import { assertDataFits, assertVocabularyFits } from '@fedlink/ml';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, LogLevel as NestLogLevel } from '@nestjs/common';
import { Strategy, describeStrategy } from '@fedlink/core';
import { ENVELOPE_OVERHEAD } from '@fedlink/crypto';
import { encodedSize, type RunEnd } from '@fedlink/protocol';
import { CoordinatorModule } from './app.module.js';
import { ensureEvalBackend } from './backend.js';
import { CONNECTION_DEFAULTS, type CoordinatorConfig, validateRunSettings } from './config.js';
import { Admission } from './federation/admission.js';
import { ClientRegistry } from './federation/client-registry.js';
import { JoinPolicy, type JoinAuthority } from './federation/join-authority.js';
import { AccessPolicy } from './control/access-policy.js';
import { Persistence } from './control/persistence.js';
import { RunControl } from './control/run-control.js';
import { Gatekeeper } from './federation/gatekeeper.js';
import { edgeRefusal } from './edge/edge-policy.js';
import { KeyAllowlist } from './federation/key-allowlist.js';
import { FederationMetrics } from './metrics/federation-metrics.js';
import { type Db, openDatabase } from './storage/database.js';
import { type JoinTokens, JoinTokenStore } from './storage/join-tokens.js';
import { PersistentRunStore } from './storage/persistent-run-store.js';
import { PostgresRunRecords } from './storage/postgres-run-records.js';
import type { RunRecords } from './storage/run-records.js';
import { SqliteRunRecords } from './storage/sqlite-run-records.js';
import { type ResumePoint, findResumePoint, settingsDiff } from './storage/resume.js';
import { RunArchive } from './storage/run-archive.js';
import { defaultIntakeWorkers } from './rounds/intake-pool.js';
import { RECEIVE_BUDGET_BYTES, ReceiveBudget } from './rounds/receive-budget.js';
import { RoundEngine } from './rounds/round-engine.js';
import { RunContext, updateManifestOf } from './federation/run-context.js';
import { FedlinkIoAdapter, type IoAdapterFactory } from './io-adapter.js';
import type { SharedRunView } from './state/shared-view.js';
import { type Log, consoleLog } from './log.js';
import { GlobalModel } from './model/global-model.js';
import { InMemoryRunStore, type RunStore } from './state/run-history.js';
import { randomId } from './state/secrets.js';
import { ensureStateDir, loadOrCreateAdminToken, loadOrCreateIdentity } from './state/state-dir.js';
import { mountWebPages } from './web/web-pages.js';

export interface RunningCoordinator {
  url: string;
  port: number;
  runId: string;
  fingerprint: string;
  context: RunContext;
  engine: RoundEngine;
  registry: ClientRegistry;
  store: InMemoryRunStore;
  app: INestApplication;
  gatekeeper: Gatekeeper;
  metrics: FederationMetrics;
  /** Uploaded update bytes held now and at most, and how often reading paused (rounds/receive-budget.ts). */
  receiveBudget: ReceiveBudget;
  /** Bearer token for the control endpoints. */
  adminToken: string;
  /** Runs, rounds, checkpoints and clients on disk (absent with `persist: false` or a `database`). */
  archive?: RunArchive;
  /** Where runs, rounds and checkpoints are recorded: the state dir's SQLite, or `config.database`'s PostgreSQL. */
  records?: RunRecords;
  tokens?: JoinTokenStore;
  /** Set when this start picked up an unfinished run: the round it resumed after. */
  resumedFrom?: number;
  /** Resolves when the run ends (finished or stopped). */
  done: Promise<RunEnd>;
  /**
   * Stops accepting connections, stops the run and closes the server. With `suspend` (graceful
   * shutdown) the run stays resumable: its open round is recorded as abandoned and the next
   * start on the same state directory continues after the last completed round.
   */
  close(options?: { suspend?: boolean }): Promise<void>;
}

export interface StartOptions {
  log?: Log;
  /** Extra run stores (persistence) that see every record. */
  stores?: RunStore[];
  authority?: JoinAuthority;
  /** Called (after the reply) when POST /api/runs created a new run: the host restarts on it. */
  onNewRun?: (runId: string) => void;
  /** Rounds come from a parent (an edge aggregator's upstream link, see edge/): the engine's run loop does not start. */
  delegated?: boolean;
  /** The run id to use when no run is resumed (a cluster's nodes all serve the cluster's run). */
  runId?: string;
  /**
   * Whether the coordinator closes itself on SIGINT/SIGTERM and the other termination signals
   * (Nest's shutdown hooks: one listener per signal on `process`). Default true. A coordinator
   * that is part of a larger process passes false and is closed by its host: an edge aggregator
   * (its CLI handles the signals, and the simulator runs many edges in one process, where each
   * coordinator's listeners would pile up on `process` past its listener limit).
   */
  shutdownHooks?: boolean;
  /**
   * The run's model, built by the host (an edge: from its parent's welcome, GlobalModel.fromTopology)
   * instead of from `run.model`, which then only names it. The coordinator owns it from here.
   */
  model?: GlobalModel;
  /** A cluster node's view of the whole run: /api/status, /api/rounds and the dashboard show it instead of this process's own. */
  shared?: SharedRunView;
  /** Join tokens kept elsewhere than the state directory (a cluster's PostgreSQL): admission and /api/tokens use them. */
  tokens?: JoinTokens;
  /** socket.io adapter for every namespace (a cluster's Redis adapter: broadcasts reach every node's sockets). */
  ioAdapter?: IoAdapterFactory;
}

/** Transport cap: room for the largest legitimate message, and a margin for framing. */
export function transportLimit(maxUpdateBytes: number, weightsBytes: number): number {
  return Math.max(2 * maxUpdateBytes, weightsBytes) + (1 << 20);
}

export async function startCoordinator(config: CoordinatorConfig, options: StartOptions = {}): Promise<RunningCoordinator> {
  validateRunSettings(config.run);
  const log = options.log ?? consoleLog(config.logLevel);
  await ensureStateDir(config.stateDir);
  const { identity } = await loadOrCreateIdentity(config.stateDir);
  await ensureEvalBackend();

  const db: Db | undefined = config.persist === false ? undefined : openDatabase(config.stateDir);
  // With a database URL the run records live there (shared by a cluster's nodes); join tokens stay in the state dir.
  const postgres = db && config.database ? await PostgresRunRecords.open(config.database).catch((e: unknown) => (db.close(), Promise.reject(e))) : undefined;
  const archive = db && !postgres ? new RunArchive(db, config.stateDir) : undefined;
  const records: RunRecords | undefined = postgres ?? (archive ? new SqliteRunRecords(archive) : undefined);
  const tokens = db ? new JoinTokenStore(db) : undefined;
  try {
    return await start(config, options, log, identity, db, archive, tokens, records);
  } catch (e) {
    await postgres?.close();
    db?.close();
    throw e;
  }
}

async function start(
  config: CoordinatorConfig,
  options: StartOptions,
  log: Log,
  identity: Awaited<ReturnType<typeof loadOrCreateIdentity>>['identity'],
  db: Db | undefined,
  archive: RunArchive | undefined,
  tokens: JoinTokenStore | undefined,
  records: RunRecords | undefined,
): Promise<RunningCoordinator> {
  // Resume the newest unfinished run of the state directory, unless told to start afresh.
  let resume: ResumePoint | undefined;
  if (records) {
    if (config.fresh) {
      for (const r of (await records.runs()).filter((x) => x.status === 'running')) {
        await records.setRunStatus(r.runId, 'stopped');
        log.warn('unfinished run marked stopped (--fresh)', { run: r.runId, round: r.round });
      }
    } else {
      resume = await findResumePoint(records, log);
    }
  }
  const settings = resume ? resume.run.settings : config.run;
  if (resume) {
    validateRunSettings(settings);
    const ignored = settingsDiff(resume.run.settings, { ...config.run, dataset: resume.run.settings.dataset });
    if (ignored.length > 0) log.warn('resuming with the run\'s stored settings; differing options ignored', { run: resume.run.runId, ignored });
  }
  // A text run's zoo model takes the run's window length ([seqLength, 1, 1]).
  const model = options.model ?? (await GlobalModel.load(settings.model, settings.seed, settings.data, config.text ? { inputShape: [config.text.seqLength, 1, 1] } : {}));
  try {
    // The coordinator's own test data must fit the model: a ModelError at start, not in round 1.
    if (config.testData) assertDataFits(model.layers, config.testData, 'the test data');
    if (config.text) assertVocabularyFits(model.layers, config.text);
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (resume?.weights) model.weights = resume.weights;
  const maxUpdateBytes = encodedSize(updateManifestOf(settings, model.manifest), settings.encoding, settings.topkFraction) + ENVELOPE_OVERHEAD;
  const runId = resume ? resume.run.runId : (options.runId ?? randomId('run_'));
  const context = new RunContext(runId, identity, model, settings, maxUpdateBytes, config.text);
  const registry = new ClientRegistry();
  const allowlist = config.allowKeysFile ? new KeyAllowlist(config.allowKeysFile) : undefined;
  const joinTokens: JoinTokens | undefined = options.tokens ?? tokens;
  const authority =
    options.authority ??
    new JoinPolicy({ open: config.open, staticTokens: config.joinTokens, ...(joinTokens ? { tokenStore: joinTokens } : {}), ...(allowlist ? { allowlist } : {}) });
  const strategy = Strategy.fromSpec(settings.strategy);
  const admission = new Admission(identity, authority, registry, edgeRefusal(settings, strategy));
  // FedAvgM/FedAdam continue with the optimizer state saved with the checkpoint they resume from.
  if (resume) {
    if (resume.strategy && JSON.stringify(resume.strategy) !== JSON.stringify(strategy.spec)) {
      throw new RangeError(`cannot resume run ${resume.run.runId}: its checkpoint of round ${resume.round} was written by strategy ${describeStrategy(resume.strategy)}, the run's settings say ${describeStrategy(strategy.spec)}`);
    }
    strategy.restoreServerState(resume.serverState);
  }
  const memory = new InMemoryRunStore();
  const persistent = records
    ? new PersistentRunStore(records, { keepCheckpoints: config.keepCheckpoints ?? 5, serverState: () => strategy.serverState(), strategy: strategy.spec })
    : undefined;
  let suspending = false;
  const stores: RunStore[] = [memory, ...(persistent ? [persistent] : []), ...(options.stores ?? [])];
  const store: RunStore = {
    startRun: async (info, w) => {
      for (const s of stores) await s.startRun(info, w);
    },
    recordRound: async (id, r, w, participation) => {
      for (const s of stores) await s.recordRound(id, r, w, participation);
    },
    finishRun: async (id, st) => {
      // A graceful shutdown is not the end of the run: it stays 'running' on disk, to be resumed.
      if (suspending) {
        await records?.markInterrupted(id);
        return;
      }
      for (const s of stores) await s.finishRun(id, st);
    },
  };
  const receiveBudget = new ReceiveBudget(config.receiveBudgetBytes ?? RECEIVE_BUDGET_BYTES);
  const engine = new RoundEngine({
    context,
    strategy,
    registry,
    store,
    log,
    ...(resume ? { startRound: resume.round + 1, history: (await records?.rounds(runId)) ?? [] } : {}),
    ...(config.testData ? { testData: config.testData } : {}),
    intake: { workers: config.intakeWorkers ?? defaultIntakeWorkers(), receiveBudget },
  });
  persistent?.trackClients(registry);
  const gatekeeper = new Gatekeeper({
    budgets: {
      clients: config.maxConnections,
      pending: config.maxPending ?? CONNECTION_DEFAULTS.maxPending,
      dashboard: config.maxDashboard ?? CONNECTION_DEFAULTS.maxDashboard,
      perAddress: config.maxPerAddress ?? CONNECTION_DEFAULTS.maxPerAddress,
    },
    handshakeTimeoutMs: config.handshakeTimeoutMs ?? CONNECTION_DEFAULTS.handshakeTimeoutMs,
    hellosPerMinute: config.helloRatePerMinute ?? 0,
    joinsPerSecond: config.joinRatePerSecond ?? 0,
  });
  const metrics = new FederationMetrics(runId, engine, registry, gatekeeper, receiveBudget);
  const adminToken = config.adminToken ?? (await loadOrCreateAdminToken(config.stateDir));
  const access = new AccessPolicy(adminToken, config.publicStatus ?? true);
  const control = new RunControl(engine, settings, archive, options.onNewRun);

  const nestLevels: NestLogLevel[] = config.logLevel === 'debug' ? ['log', 'error', 'warn', 'debug'] : ['error', 'warn'];
  const app = await NestFactory.create(CoordinatorModule.forRoot({
      context,
      registry,
      admission,
      engine,
      store: memory,
      log,
      gatekeeper,
      metrics,
      access,
      control,
      persistence: new Persistence(archive, joinTokens),
      receiveBudget,
      ...(options.shared ? { shared: options.shared } : {}),
    }), {
    logger: config.logLevel === 'silent' ? false : nestLevels,
    cors: true,
    // https and wss on the same port: browsers off localhost need a secure context.
    ...(config.tls ? { httpsOptions: { cert: config.tls.cert, key: config.tls.key } } : {}),
  });
  app.useWebSocketAdapter(new FedlinkIoAdapter(app, transportLimit(maxUpdateBytes, model.encodedWeights().length), options.ioAdapter));
  if (options.shutdownHooks ?? true) app.enableShutdownHooks();
  mountWebPages(app);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address() as { port: number };
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  if (resume && resume.round > 0) {
    // The dashboard's /api/rounds shows the whole run, not just what happened since the restart.
    memory.startRun({ ...resume.run, status: 'running' });
    for (const r of await records!.rounds(runId)) memory.recordRound(runId, r);
    metrics.resumedAt(resume.round);
    log.info('run resumed', { run: runId, round: resume.round, next: resume.round + 1, rounds: settings.rounds });
  } else {
    // A new run, or one created by POST /api/runs (recorded, not started yet).
    await store.startRun({ runId, createdAt: resume?.run.createdAt ?? Date.now(), settings, status: 'running', round: 0 }, model.weights);
  }
  const done = options.delegated ? engine.delegate() : engine.run();
  let closed = false;
  return {
    url,
    port: address.port,
    runId,
    fingerprint: context.fingerprint,
    context,
    engine,
    registry,
    store: memory,
    app,
    gatekeeper,
    metrics,
    receiveBudget,
    adminToken,
    ...(archive ? { archive } : {}),
    ...(records ? { records } : {}),
    ...(tokens ? { tokens } : {}),
    ...(resume && resume.round > 0 ? { resumedFrom: resume.round } : {}),
    done,
    async close(opts: { suspend?: boolean } = {}) {
      if (closed) return;
      closed = true;
      gatekeeper.stopAccepting();
      suspending = opts.suspend === true && !engine.result;
      if (suspending) {
        // Clients are disconnected before the engine stops, so they never see a run:end: they
        // keep reconnecting and rejoin the run when the coordinator is back.
        for (const s of registry.sessions()) s.peer.disconnect();
      }
      engine.stop('coordinator shutting down');
      await done.catch(() => undefined);
      // Clients leave by themselves once they read run:end; closing the server first would
      // discard that message from their send buffers.
      await registry.waitForEmpty(2_000);
      await app.close();
      await persistent?.flushClients();
      if (records && !archive) await records.close();
      db?.close();
      model.dispose();
    },
  };
}
