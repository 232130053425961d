/**
 * The live dashboard feed: a read-only socket.io namespace the coordinator pushes run events on.
 * Only public facts travel here (settings, per-round metrics, client descriptions): never keys,
 * tokens, weights or data. Plain types, not schemas: the dashboard only reads from the
 * coordinator that served it, and sends nothing. Also exported alone as
 * `@fedlink/protocol/dashboard`, so the dashboard page bundles no zod.
 */

export const DASHBOARD_NAMESPACE = '/dashboard';

/** Server -> dashboard events. */
export const DASHBOARD_EVENTS = {
  /** Whole state, sent on every (re)connection so a dashboard never misses what came before. */
  snapshot: 'snapshot',
  phase: 'phase',
  roundStarted: 'round:started',
  /** Progress of the open round (coalesced: at most a few per second). */
  openRound: 'round:progress',
  /** One attempt at a round finished: completed or abandoned. */
  round: 'round:record',
  clients: 'clients',
  runEnded: 'run:ended',
} as const;

/** What a run is doing (the coordinator's round engine): starting, waiting for clients, a round's stages, its end. */
export const PHASES = ['starting', 'waiting', 'training', 'aggregating', 'evaluating', 'finished', 'stopped'] as const;
export type Phase = (typeof PHASES)[number];

/** What the dashboard shows of a connected client. */
export interface DashboardClient {
  clientId: string;
  name: string | null;
  platform: string;
  backend: string;
  numExamples: number;
  joinedAt: number;
  lastSeen: number;
  roundsCompleted: number;
  /** An edge aggregator (its updates are groups of leaf clients); absent for an ordinary client. */
  edge?: true;
  /** What this coordinator knows of an edge (its state, its last group); only with `edge`. */
  edgeStatus?: DashboardEdgeStatus;
  /** In a cluster: the node the client is connected to. */
  node?: string;
}

/**
 * Where an edge stands in this coordinator's open round: not in it (or none is open), selected and
 * not yet reported, its group accepted, or dropped (refused round:start, left, withdrew).
 */
export const EDGE_STATES = ['idle', 'training', 'reported', 'dropped'] as const;
export type EdgeState = (typeof EDGE_STATES)[number];

/** The last group an edge reported here (an accepted update, whether or not its round then completed). */
export interface DashboardEdgeRound {
  round: number;
  attempt: number;
  /** Leaf clients behind the group (the update's `contributors`). */
  contributors: number;
  /** Their examples in all. */
  numExamples: number;
  /** Bytes of the sealed update received from the edge. */
  bytesIn: number;
  /** Epoch ms it was accepted. */
  at: number;
}

/** One of an edge's own edges, as that edge reported it (the tree one level further down). */
export interface DashboardEdgeChild {
  clientId: string;
  name?: string;
  /** Leaf clients under it, and their examples. */
  clients: number;
  examples: number;
  /** Where it stands in its parent edge's open round. */
  state: EdgeState;
  /** Its own dashboard (http or https), if it told. */
  dashboardUrl?: string;
}

export interface DashboardEdgeStatus {
  state: EdgeState;
  /** null until the edge's first group is accepted. */
  lastRound: DashboardEdgeRound | null;
  /** Eligible leaf clients under the edge and their examples, as it last reported (0 until it does). */
  clients: number;
  examples: number;
  /** The edge's own dashboard (http or https), if it told. */
  dashboardUrl?: string;
  /** The edge's own edges, if it has any. */
  edges?: DashboardEdgeChild[];
}

/** One attempt at a round: completed, or abandoned with a reason (the coordinator's RoundRecord). */
export interface DashboardRound {
  round: number;
  attempt: number;
  status: 'completed' | 'abandoned';
  reason?: string;
  startedAt: number;
  endedAt: number;
  seconds: number;
  selected: number;
  target: number;
  reported: number;
  dropped: number;
  rejected: number;
  totalExamples: number;
  trainLoss?: number;
  trainAccuracy?: number;
  testLoss?: number;
  testAccuracy?: number;
  /** Regression runs: the test split's mean absolute and root-mean-square error, in the label's units. */
  testMae?: number;
  testRmse?: number;
  /** Classification: per class, test examples and how many the model got right. */
  testClassCounts?: { total: number[]; correct: number[] };
  /**
   * Federated evaluation: the global model this round started from, evaluated by the reporting
   * clients on their held-out splits, weighted by their held-out example counts.
   */
  federatedEval?: { loss: number; accuracy: number; examples: number; clients: number; mae?: number; rmse?: number };
  bytesIn: number;
  bytesOut: number;
  /** What the strategy's aggregator reported of the round (e.g. `clipped`), when it reported anything. */
  aggregation?: Record<string, number>;
  /** Differential privacy: the run's epsilon after this round, when the strategy has a DP wrapper. */
  privacy?: RoundPrivacy;
}

/** The privacy accountant's figures after a round (RDP of the sampled Gaussian, improved conversion). */
export interface RoundPrivacy {
  mode: 'central' | 'distributed' | 'local';
  /** epsilon(delta) of the whole run so far, this round included. */
  epsilon: number;
  delta: number;
  /** The RDP order that gave epsilon. */
  order: number;
  /** What this round was charged: its sampling rate and noise multiplier. */
  samplingRate: number;
  noiseMultiplier: number;
  /** The L2 clipping bound the round used. */
  clip: number;
}

export interface DashboardOpenRound {
  round: number;
  attempt: number;
  selected: number;
  target: number;
  reported: number;
  rejected: number;
  deadline: number;
}

/** The run's configuration as shown (a subset of the coordinator's settings, no secrets). */
export interface DashboardRun {
  runId: string;
  model: string;
  numParams: number;
  dataset: string;
  rounds: number;
  strategy: string;
  fingerprint: string;
  secureAggregation: boolean;
  encoding: string;
  selection: { fraction: number; minFit: number; minAvailable: number; overSelect: number };
  fit: { epochs: number; batchSize: number; learningRate: number; proximalMu: number };
  roundTimeoutMs: number;
}

export interface DashboardSnapshot {
  run: DashboardRun;
  status: 'running' | 'finished' | 'stopped';
  phase: Phase;
  /** Last completed round. */
  round: number;
  openRound: DashboardOpenRound | null;
  rounds: DashboardRound[];
  clients: DashboardClient[];
  /** Server clock, so relative times ("12 s ago") survive clock skew. */
  serverTime: number;
  /** Set when the coordinator is one node of a cluster: then rounds, clients and the open round are the cluster's. */
  cluster?: DashboardCluster;
}

/** A cluster as any of its nodes shows it (read from the cluster's Redis and PostgreSQL). */
export interface DashboardCluster {
  /** The node that answered. */
  node: string;
  /** The lease holder running the round loop, with its fencing token. */
  leader: { nodeId: string; token: number } | null;
  /** Live nodes and how many clients each has joined. */
  nodes: { nodeId: string; clients: number }[];
}

export interface DashboardPhaseEvent {
  phase: Phase;
  round: number;
  serverTime: number;
}

export interface DashboardRunEnded {
  status: 'finished' | 'stopped';
  rounds: number;
  metrics: Record<string, number>;
}
