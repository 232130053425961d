import { type Connect, FedlinkClient } from '@fedlink/client';
import { MODEL_NAMES, type ModelName } from '@fedlink/ml';
import { FedlinkError, type RunEnd, type Welcome } from '@fedlink/protocol';
import { type RunningCoordinator, type StartOptions, startCoordinator } from '../bootstrap.js';
import type { CoordinatorConfig, RunSettings } from '../config.js';
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
export async function startEdge(config: EdgeConfig, options: Omit<StartOptions, 'delegated'> = {}): Promise<RunningEdge> {
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
  const start = (welcome: Welcome): Promise<RunningCoordinator> => {
    const model = welcome.model.name;
    if (!(MODEL_NAMES as readonly string[]).includes(model)) throw new FedlinkError('unsupported', `the parent's model ${model} is not one this edge can build`);
    const run: RunSettings = { ...downstream.run, model: model as ModelName, rounds: welcome.rounds };
    return startCoordinator({ ...downstream, run }, { ...options, log, delegated: true });
  };
  const trainer = new EdgeTrainer({
    start: async (welcome) => {
      coordinator ??= start(welcome);
      const coord = await coordinator;
      if (JSON.stringify(coord.context.model.manifest) !== JSON.stringify(welcome.model.manifest)) {
        throw new Error(`the parent's model ${welcome.model.name} has another weight manifest than this edge's build of it`);
      }
      markReady(coord);
      return { engine: coord.engine, examples: () => coord.registry.sessions().reduce((n, s) => n + s.numExamples, 0) };
    },
    ...(config.reserveMs ? { reserveMs: config.reserveMs } : {}),
    ...(config.onRound ? { onRound: config.onRound } : {}),
    ...(config.leafSeed ? { leafSeed: config.leafSeed } : {}),
  });
  const client = new FedlinkClient({
    url: upstream.url,
    trainer,
    platform: 'node',
    backend: 'edge',
    identity,
    role: 'edge',
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
      client.stop();
      const coord = coordinator ? await coordinator.catch(() => undefined) : undefined;
      await coord?.close();
    },
  };
}
