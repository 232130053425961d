import { type Connect, FedlinkClient } from '@fedlink/client';
import { type EdgeSummary, FedlinkError, MAX_EDGE_CHILDREN, type RunEnd, type Welcome } from '@fedlink/protocol';
import { type RunningCoordinator, type StartOptions, startCoordinator } from '../bootstrap.js';
import type { CoordinatorConfig, RunSettings } from '../config.js';
import { GlobalModel } from '../model/global-model.js';
import { consoleLog } from '../log.js';
import { ensureStateDir, loadOrCreateIdentity } from '../state/state-dir.js';
import { edgeStrategyProblem } from './edge-policy.js';
import { EdgeTrainer, type EdgeTrainerOptions } from './edge-trainer.js';

/** The parent an edge reports to: its URL, join token and pinned key. */
export interface UpstreamConfig {
  url: string;
  token?: string;
  /** The parent's fingerprint (pinned: a parent with another key is refused). */
  serverFingerprint?: string;
  /** PEM of a private CA for an https parent. */
  ca?: string;
  /** Name the parent's dashboard shows for this edge. */
  name?: string;
  /** Where the parent's dashboard links to this edge's own (default: the URL its coordinator listens on). */
  dashboardUrl?: string;
  /** The transport seam of the upstream client (tests, fault injection). */
  connect?: Connect;
}

/**
 * An edge aggregator's configuration: its own coordinator (gateway, tokens, limits, dashboard,
 * state dir; its selection, timeouts and secure aggregation for its clients) and its parent. The
 * parent decides the model and the number of rounds, and each round's weights and training config.
 */
export interface EdgeConfig {
  upstream: UpstreamConfig;
  downstream: Omit<CoordinatorConfig, 'run'> & { run: Omit<RunSettings, 'model' | 'rounds'> };
  reserveMs?: EdgeTrainerOptions['reserveMs'];
  onRound?: EdgeTrainerOptions['onRound'];
  leafSeed?: EdgeTrainerOptions['leafSeed'];
}

/** How long an edge gathers changes to its group before it sends one edge:summary upstream. */
export const SUMMARY_COALESCE_MS = 50;

/**
 * An edge's group as its parent sees it: the leaf clients under it (its own edges count by the
 * clients they reported), their examples, its dashboard, and its own edges, each with its
 * counts, its state in this edge's open round and its dashboard link (one level: the parent's
 * tree shows its edges and theirs).
 */
export function groupSummary(coord: Pick<RunningCoordinator, 'registry' | 'engine'>, dashboardUrl: string | undefined): EdgeSummary {
  const sessions = coord.registry.sessions();
  const edges = sessions.filter((s) => s.edge).slice(0, MAX_EDGE_CHILDREN).map((s) => ({
    clientId: s.clientId,
    ...(s.name !== undefined ? { name: s.name } : {}),
    clients: s.edgeSummary?.clients ?? 0,
    examples: s.edgeSummary?.examples ?? 0,
    state: coord.engine.participation(s.clientId),
    ...(s.edgeSummary?.dashboardUrl !== undefined ? { dashboardUrl: s.edgeSummary.dashboardUrl } : {}),
  }));
  return {
    clients: coord.registry.leafCount(),
    examples: sessions.reduce((n, s) => n + (s.edge ? (s.edgeSummary?.examples ?? 0) : s.numExamples), 0),
    ...(dashboardUrl !== undefined ? { dashboardUrl } : {}),
    ...(edges.length > 0 ? { edges } : {}),
  };
}

export interface RunningEdge {
  /** The upstream client (one client of the parent). */
  client: FedlinkClient;
  /** Resolves once the parent welcomed the edge and its own coordinator listens. */
  ready: Promise<RunningCoordinator>;
  /** Resolves with the parent's run end, once this edge's own run is ended too. */
  done: Promise<RunEnd>;
  close(): Promise<void>;
}

/**
 * Starts an edge aggregator: joins the parent as one client (hello role 'edge', with the state
 * dir's identity, so a restarted edge is the same client to its parent), and on the parent's
 * welcome starts its own coordinator for the parent's model, with rounds delegated: each parent
 * round is one local round (EdgeTrainer). Edges can be the parents of edges.
 */
export async function startEdge(config: EdgeConfig, options: Omit<StartOptions, 'delegated' | 'shutdownHooks' | 'model'> = {}): Promise<RunningEdge> {
  const { downstream, upstream } = config;
  const problem = edgeStrategyProblem(downstream.run.strategy);
  if (problem !== undefined) throw new RangeError(`edge: ${problem}`);
  const log = options.log ?? consoleLog(downstream.logLevel);
  await ensureStateDir(downstream.stateDir);
  const { identity } = await loadOrCreateIdentity(downstream.stateDir);
  let coordinator: Promise<RunningCoordinator> | undefined;
  let markReady!: (c: RunningCoordinator) => void;
  let failReady!: (e: unknown) => void;
  const ready = new Promise<RunningCoordinator>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  // The parent's model, whatever it is (a zoo name or its own model.json): built from the welcome's
  // topology, which this edge serves verbatim, so its clients check the parent's hash.
  const start = async (welcome: Welcome): Promise<RunningCoordinator> => {
    let model: GlobalModel;
    try {
      model = await GlobalModel.fromTopology(welcome.model.name, welcome.model.topology);
    } catch (e) {
      throw new FedlinkError('unsupported', `the parent's model ${welcome.model.name} can't be built here: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (welcome.model.hash !== undefined && model.hash !== welcome.model.hash) {
      model.dispose();
      throw new FedlinkError('model_mismatch', `the parent's model ${welcome.model.name} hashes to ${model.hash} here, the parent says ${welcome.model.hash}`);
    }
    // What the parent's clients encode their data with (a tabular run's statistics, a text run's
    // vocabulary) is the parent's: this edge ships the same to its own clients.
    const { data: _ownData, ...own } = downstream.run;
    const run: RunSettings = { ...own, model: welcome.model.name, rounds: welcome.rounds, ...(welcome.data ? { data: welcome.data } : {}) };
    const { text: _ownText, ...gateway } = downstream;
    // The edge's host closes it (its CLI on a signal, the simulator at the end): no signal listeners of its own.
    return startCoordinator({ ...gateway, run, ...(welcome.text ? { text: welcome.text } : {}) }, { ...options, log, delegated: true, shutdownHooks: false, model });
  };
  const trainer = new EdgeTrainer({
    start: async (welcome) => {
      coordinator ??= start(welcome);
      const coord = await coordinator;
      if (JSON.stringify(coord.context.model.manifest) !== JSON.stringify(welcome.model.manifest)) {
        throw new Error(`the parent's model ${welcome.model.name} has another weight manifest than this edge's build of it`);
      }
      markReady(coord);
      watchGroup(coord);
      return { engine: coord.engine, summary: () => groupSummary(coord, upstream.dashboardUrl ?? coord.url) };
    },
    ...(config.reserveMs ? { reserveMs: config.reserveMs } : {}),
    ...(config.onRound ? { onRound: config.onRound } : {}),
    ...(config.leafSeed ? { leafSeed: config.leafSeed } : {}),
  });
  // The group changes as clients come and go (and as this edge's edges report theirs): one
  // edge:summary upstream per burst of changes, so a hundred joins cost the parent a few messages.
  let pending: ReturnType<typeof setTimeout> | undefined;
  const report = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      void client.reportEdge();
    }, SUMMARY_COALESCE_MS);
  };
  const watchGroup = (coord: RunningCoordinator) => {
    coord.registry.on('joined', report);
    coord.registry.on('left', report);
    coord.registry.on('summary', report);
    // Its edges' states in its rounds travel in the summary too.
    coord.engine.on('roundStarted', report);
    coord.engine.on('roundEnded', report);
    // The parent's welcome may come before this coordinator listened: say what it holds now.
    report();
  };
  const client = new FedlinkClient({
    url: upstream.url,
    trainer,
    platform: 'node',
    backend: 'edge',
    identity,
    role: 'edge',
    edgeSummary: () => trainer.summary(),
    ...(upstream.token !== undefined ? { token: upstream.token } : {}),
    ...(upstream.serverFingerprint !== undefined ? { serverFingerprint: upstream.serverFingerprint } : {}),
    ...(upstream.ca !== undefined ? { ca: upstream.ca } : {}),
    ...(upstream.name !== undefined ? { name: upstream.name } : {}),
    ...(upstream.connect ? { connect: upstream.connect } : {}),
  });
  const upstreamEnd = client.run();
  upstreamEnd.catch((e: unknown) => failReady(e));
  // The parent's run end is this edge's: its clients are told, and its own run is recorded as ended.
  const done = upstreamEnd.then(async (end) => {
    const coord = coordinator ? await coordinator : undefined;
    await coord?.engine.endRun(end.status);
    return end;
  });
  done.catch(() => undefined);
  return {
    client,
    ready,
    done,
    async close() {
      if (pending) clearTimeout(pending);
      client.stop();
      const coord = coordinator ? await coordinator.catch(() => undefined) : undefined;
      await coord?.close();
    },
  };
}
