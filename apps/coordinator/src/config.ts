import { type SelectionPolicy, Strategy, type StrategySpec, minUpdatesOf, parseStrategySpec, presetSpec, validateSelectionPolicy } from '@fedlink/core';
import type { ImageDataset } from '@fedlink/ml';
import type { ModelRef } from './model/global-model.js';
import { type FitSettings, FitSettingsSchema, type TabularStats, TabularStatsSchema, type TensorEncoding, type WelcomeText, parseMessage } from '@fedlink/protocol';
import { type PrivacySettings, privacyProblem } from './rounds/privacy-budget.js';

/** What a run trains and how (persisted with the run, shown on the dashboard). */
export interface RunSettings {
  /** A zoo name (mlp, cnn, cifar-cnn) or the path of a tfjs Layers model.json (its topology and initial weights). */
  model: ModelRef;
  /** Dataset name, for display: the coordinator only holds the test split. */
  dataset: string;
  rounds: number;
  /** How updates are aggregated and applied (presets: fedavg, fedprox, fedavgm, fedadam). */
  strategy: StrategySpec;
  selection: SelectionPolicy;
  /** Local training every selected client gets (plus its own seed). */
  fit: FitSettings;
  seed: number;
  /** How long a round waits for updates after round:start. */
  roundTimeoutMs: number;
  /** How long to wait for `minAvailable` clients before the attempt is abandoned and retried. */
  waitTimeoutMs: number;
  /** Give up the run after this many consecutive abandoned attempts (0 = never). */
  maxAbandonedAttempts: number;
  /** Encoding of client deltas on the wire. */
  encoding: TensorEncoding;
  /** topk encoding: share of each tensor's entries a client delta keeps (default DEFAULT_TOPK_FRACTION). */
  topkFraction?: number;
  /** Reject updates whose L2 norm exceeds this (0 = no bound). */
  maxUpdateNorm: number;
  secureAggregation: boolean;
  /** Secure aggregation: deadline of each key-exchange and unmasking stage. */
  secaggStageTimeoutMs: number;
  /** Secure aggregation: delta entries are clipped to [-C, C] before quantisation. */
  secaggClipRange: number;
  /** Secure aggregation: dropout share the neighbour graph must survive (raises k). */
  secaggExpectedDropout?: number;
  /**
   * A tabular run (csv data): the statistics every client encodes its rows with, sent in the
   * welcome; a tabular zoo model (tabular-mlp, recommender) is built from them.
   */
  data?: TabularStats;
  /** Differential privacy accounting (with a dp wrapper in the strategy): delta (default 1e-5), target epsilon. */
  privacy?: PrivacySettings;
}

export interface CoordinatorConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  stateDir: string;
  run: RunSettings;
  /** Join tokens accepted in hello. Empty with `open` false means nobody can join. */
  joinTokens: string[];
  /** Accept clients without a token (simulations on loopback, demos). */
  open: boolean;
  /** Held-out data the coordinator evaluates the global model on after every round. */
  testData?: ImageDataset;
  /** A text run: the vocabulary every client encodes with, shipped in the welcome (@fedlink/ml TextSpec). */
  text?: WelcomeText;
  /** Most joined clients at once. */
  maxConnections: number;
  /** Most connections that haven't joined yet (default 1000). */
  maxPending?: number;
  /** Most dashboard viewers (default 100). */
  maxDashboard?: number;
  /** Most unjoined or dashboard connections from one address; 0 = no cap (default 256). */
  maxPerAddress?: number;
  /** A connection that hasn't joined this long after connecting is closed (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Serve https and wss with this certificate chain and key (PEM). */
  tls?: { cert: string; key: string };
  logLevel: LogLevel;
  /** Record runs in SQLite + checkpoint files under `stateDir` and resume unfinished ones (default true). */
  persist?: boolean;
  /**
   * A postgres:// URL: runs, rounds, checkpoints (bytea + sha256) and clients are recorded there
   * instead of the state dir's SQLite (join tokens, identity and admin token stay in the state dir).
   */
  database?: string;
  /** Start a new run even if the state dir holds an unfinished one (which is marked stopped). */
  fresh?: boolean;
  /** Checkpoints kept per run, newest first; 0 keeps all (default 5). */
  keepCheckpoints?: number;
  /** Allowlist mode: only client keys listed in this file may join. */
  allowKeysFile?: string;
  /** Hellos per minute per remote address, also the burst (default 0: no limit). */
  helloRatePerMinute?: number;
  /** Joins admitted a second over all addresses; a hello over it is refused with a retry-after slot (default 0: no limit). */
  joinRatePerSecond?: number;
  /**
   * Worker threads that open and check sealed updates (rounds/intake-pool.ts); 0 keeps the intake
   * on the event loop. Default: one per core beyond the first, at most 4 (defaultIntakeWorkers).
   */
  intakeWorkers?: number;
  /**
   * Update bytes held between their arrival and their end (waiting for an intake slot, being
   * opened, waiting for the updates before them); past it the coordinator stops reading client
   * sockets until they are back to half (rounds/receive-budget.ts). Default RECEIVE_BUDGET_BYTES (128 MiB).
   */
  receiveBudgetBytes?: number;
  /** Read-only HTTP endpoints (status, rounds, model, metrics) without the admin token (default true). */
  publicStatus?: boolean;
  /** Admin token; default: the state dir's admin-token file (created on first start). */
  adminToken?: string;
}

/** Connection limits a coordinator applies when its config leaves them out (serve's flag defaults). */
export const CONNECTION_DEFAULTS = {
  maxPending: 1000,
  maxDashboard: 100,
  maxPerAddress: 256,
  handshakeTimeoutMs: 10_000,
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const DEFAULT_RUN: RunSettings = {
  model: 'cnn',
  dataset: 'mnist',
  rounds: 20,
  strategy: presetSpec('fedavg'),
  selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0.3 },
  fit: { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: 0 },
  seed: 1,
  roundTimeoutMs: 600_000,
  waitTimeoutMs: 600_000,
  maxAbandonedAttempts: 0,
  encoding: 'float32',
  maxUpdateNorm: 0,
  secureAggregation: false,
  secaggStageTimeoutMs: 60_000,
  secaggClipRange: 1,
};

/** Checks settings before a run starts (CLI, REST and resume all pass through here); throws RangeError. */
export function validateRunSettings(r: RunSettings): void {
  const bad = (what: string): never => {
    throw new RangeError(`invalid run settings: ${what}`);
  };
  if (!(Number.isInteger(r.rounds) && r.rounds >= 1)) bad(`rounds must be >= 1, got ${r.rounds}`);
  if (!(r.roundTimeoutMs > 0)) bad('round timeout must be > 0');
  if (!(r.waitTimeoutMs > 0)) bad('wait timeout must be > 0');
  try {
    // The bounds of local training live in the wire schema alone.
    parseMessage(FitSettingsSchema, r.fit, 'fit settings');
    validateSelectionPolicy(r.selection);
    parseStrategySpec(r.strategy);
    if (r.data !== undefined) parseMessage(TabularStatsSchema, r.data, 'tabular statistics');
  } catch (e) {
    bad((e as Error).message);
  }
  if (r.strategy.name === 'fedprox' && !(r.fit.proximalMu > 0)) bad('FedProx needs proximalMu > 0');
  if (r.secureAggregation && r.strategy.control) {
    bad(`strategy ${r.strategy.name} keeps ${r.strategy.control.kind} control variates: each client's delta c enters the server control variate unweighted, next to its example-weighted delta y; secure aggregation delivers only one example-weighted sum`);
  }
  if (r.secureAggregation && Strategy.fromSpec(r.strategy).needsIndividualUpdates) {
    const parts = [r.strategy.aggregator.kind, ...r.strategy.wrappers.map((w) => w.kind)].filter((k) => k !== 'mean');
    bad(`strategy ${r.strategy.name} needs each client's update (${parts.join(', ')} reads every update on its own); secure aggregation delivers only their sum`);
  }
  const fewest = minUpdatesOf(r.strategy.aggregator);
  if (r.selection.minFit < fewest) bad(`${r.strategy.aggregator.kind} needs at least ${fewest} updates a round; raise min-fit (${r.selection.minFit}) to ${fewest}`);
  if (!(r.maxUpdateNorm >= 0)) bad('max update norm must be >= 0');
  if (r.topkFraction !== undefined && !(r.topkFraction > 0 && r.topkFraction <= 1)) bad(`top-k fraction must be in (0, 1], got ${r.topkFraction}`);
  if (r.secureAggregation && r.selection.minFit < 2) bad('secure aggregation needs min-fit >= 2 (the sum of one client is that client)');
  if (!(r.secaggStageTimeoutMs > 0)) bad('secure-aggregation stage timeout must be > 0');
  if (!(r.secaggClipRange > 0)) bad('secure-aggregation clip range must be > 0');
  const privacy = privacyProblem(r, Strategy.fromSpec(r.strategy));
  if (privacy !== undefined) bad(privacy);
}

/**
 * The strategy of a run from a preset name or a spec, and an optional server learning rate (the
 * CLI's `--strategy` / `--server-lr`, POST /api/runs, settings stored by earlier versions). A
 * preset takes the rate as its optimizer's step (FedProx keeps its fixed step, as it always did);
 * a spec gets its optimizer's `lr` replaced. Throws RangeError naming what is wrong.
 */
export function strategyOf(given: string | StrategySpec, serverLearningRate?: number): StrategySpec {
  if (typeof given === 'string') return parseStrategySpec(given, serverLearningRate !== undefined ? { serverLearningRate } : {});
  const spec = parseStrategySpec(given);
  return serverLearningRate === undefined ? spec : { ...spec, optimizer: { ...spec.optimizer, lr: serverLearningRate } };
}

/**
 * Settings as stored by earlier versions: the strategy was a preset name with an optional
 * `serverLearningRate` beside it. Returns settings in today's shape (a spec), unchanged otherwise.
 */
export function normalizeRunSettings(stored: unknown): RunSettings {
  const s = stored as Omit<RunSettings, 'strategy'> & { strategy: string | StrategySpec; serverLearningRate?: number };
  if (typeof s.strategy !== 'string') return s as RunSettings;
  const { serverLearningRate, ...rest } = s;
  return { ...rest, strategy: strategyOf(s.strategy, serverLearningRate) };
}
