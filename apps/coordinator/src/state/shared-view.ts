import type { DashboardClient, DashboardCluster, DashboardOpenRound, Phase } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { RoundRecord } from './run-history.js';

/** Sends one dashboard event to every dashboard the publisher reaches. */
export type Publish = (event: string, payload: unknown) => void;

/** The run as every node of a cluster sees it (not one node's part of it). */
export interface SharedRunState {
  status: 'running' | 'finished' | 'stopped';
  /** The cluster's: training while an attempt is open, waiting between attempts, then the run's end. */
  phase: Phase;
  /** The run's settings (a node's own coordinator runs with per-node selection limits). */
  settings: RunSettings;
  /** Last completed round, from the shared records. */
  round: number;
  /** The open attempt as the leader planned it, with the cluster-wide count of updates taken. */
  openRound: DashboardOpenRound | null;
  /** Every live node's clients, each with its node. */
  clients: DashboardClient[];
  cluster: DashboardCluster;
}

/**
 * Where a coordinator that is one of several reads the run's shared state: /api/status,
 * /api/rounds and the dashboard use it instead of the node's own engine and memory when it is
 * set. The single-node coordinator has none (its own state is the run's).
 */
export interface SharedRunView {
  read(): Promise<SharedRunState>;
  /** Every attempt so far, oldest first (the shared records'). */
  rounds(): Promise<RoundRecord[]>;
  /**
   * The dashboard gateway hands its namespace's emit: the cluster's events (round started,
   * recorded, clients, run ended) go out through it. Returns the detach.
   */
  attach(publish: Publish): () => void;
}

/** Nest injection token for the optional SharedRunView (value null on a single node). */
export const SHARED_VIEW = Symbol('SharedRunView');
