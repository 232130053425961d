import type { EventEmitter } from 'node:events';
import type { EdgeState, RunEnd } from '@fedlink/protocol';
import type { ClientSession } from '../federation/client-registry.js';
import type { RoundRecord } from '../state/run-history.js';
import type { RoundSnapshot, RoundState } from './round-state.js';

/** Notifications of what happened (state itself is read from snapshots). */
export interface EngineEvents {
  roundStarted: [{ round: number; attempt: number; selected: string[]; target: number; deadline: number }];
  updateAccepted: [{ round: number; clientId: string; numExamples: number; bytes: number }];
  updateRejected: [{ round: number; clientId: string; code: string; message: string }];
  roundEnded: [RoundRecord];
  runEnded: [RunEnd];
}

/**
 * What the transport (the socket.io gateway), the REST controllers and the views need of a round
 * engine. The single-node run loop implements it; another driver (an edge aggregator, a cluster
 * leader) can too.
 */
/** Where the engine's notifications can be followed. */
export type EngineNotifications = Pick<EventEmitter<EngineEvents>, 'on' | 'off' | 'once'>;

export interface FederationEngine extends EngineNotifications {
  readonly runId: string;
  /** The published round state. */
  readonly state: RoundState;
  snapshot(): RoundSnapshot;
  /** A sealed `round:update` from a joined client; throws a FedlinkError when refused. */
  submitUpdate(session: ClientSession, raw: unknown): Promise<void>;
  /** `round:withdraw`: the client can't finish the round. */
  withdraw(session: ClientSession, raw: unknown): void;
  /** A secure-aggregation stage message; throws a FedlinkError when refused. */
  submitSecAgg(session: ClientSession, raw: unknown): Promise<void>;
  /** Where a client stands in the open attempt (the dashboard's edge state); absent: not known, shown as idle. */
  participation?(clientId: string): EdgeState;
  /** Stops the run: the open round closes without aggregating, clients are told. */
  stop(reason?: string): void;
}

/** Nest injection token of the FederationEngine. */
export const ENGINE = Symbol('fedlink.engine');
