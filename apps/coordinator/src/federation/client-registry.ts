import { EventEmitter } from 'node:events';
import type { AckedServerEventName, DashboardEdgeRound, EdgeSummary, ServerEventName, ServerPayload } from '@fedlink/protocol';
import type { Peer } from './peer.js';

/** A client that completed hello. */
export interface ClientSession {
  clientId: string;
  peer: Peer;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
  /** The X25519 shared key with the coordinator (opens this client's envelopes), derived on first use. */
  sharedKey: () => Promise<Uint8Array>;
  numExamples: number;
  platform: string;
  backend: string;
  name?: string;
  /** An edge aggregator (hello role 'edge'): its updates are groups of `contributors` leaf clients. */
  edge?: boolean;
  joinedAt: number;
  lastSeen: number;
  roundsCompleted: number;
  /** An edge's last accepted group (set by the round engine); kept across its reconnections. */
  lastGroup?: DashboardEdgeRound;
  /** An edge's group as it last told (hello, edge:summary): its leaf clients, examples, own edges, dashboard. */
  edgeSummary?: EdgeSummary;
}

/** Leaf clients a session stands for: 1 for an ordinary client, an edge's reported clients (0 until it reports any). */
export function leavesOf(s: Pick<ClientSession, 'edge' | 'edgeSummary'>): number {
  return s.edge ? (s.edgeSummary?.clients ?? 0) : 1;
}

export interface RegistryEvents {
  joined: [ClientSession];
  left: [ClientSession, string];
  /** An edge's summary changed (its leaf count may have). */
  summary: [ClientSession];
}

/**
 * Connected, joined clients by client id (derived from the signing key). A client that
 * reconnects (same key, new connection) replaces its old session and keeps its history.
 */
export class ClientRegistry extends EventEmitter<RegistryEvents> {
  private readonly byClient = new Map<string, ClientSession>();
  private readonly byPeer = new Map<string, string>();
  private readonly history = new Map<string, Pick<ClientSession, 'roundsCompleted' | 'lastGroup'>>();
  /** leavesOf summed over byClient, kept as sessions come, go and re-summarise (a wait checks it on every join). */
  private leaves = 0;

  add(session: Omit<ClientSession, 'roundsCompleted'>): ClientSession {
    const old = this.byClient.get(session.clientId);
    if (old && old.peer.id !== session.peer.id) {
      this.byPeer.delete(old.peer.id);
      old.peer.disconnect();
    }
    const past = this.history.get(session.clientId);
    const s: ClientSession = { ...session, roundsCompleted: past?.roundsCompleted ?? 0, ...(past?.lastGroup ? { lastGroup: past.lastGroup } : {}) };
    if (old) this.leaves -= leavesOf(old);
    this.leaves += leavesOf(s);
    this.byClient.set(s.clientId, s);
    this.byPeer.set(s.peer.id, s.clientId);
    this.history.set(s.clientId, s);
    this.emit('joined', s);
    return s;
  }

  /** A connection closed; returns the session it carried, if any. */
  removePeer(peerId: string, reason: string): ClientSession | undefined {
    const clientId = this.byPeer.get(peerId);
    if (!clientId) return undefined;
    this.byPeer.delete(peerId);
    const s = this.byClient.get(clientId);
    if (s && s.peer.id === peerId) {
      this.byClient.delete(clientId);
      this.leaves -= leavesOf(s);
      this.emit('left', s, reason);
      return s;
    }
    return undefined;
  }

  byPeerId(peerId: string): ClientSession | undefined {
    const id = this.byPeer.get(peerId);
    return id ? this.byClient.get(id) : undefined;
  }

  get(clientId: string): ClientSession | undefined {
    return this.byClient.get(clientId);
  }

  ids(): string[] {
    return [...this.byClient.keys()];
  }

  sessions(): ClientSession[] {
    return [...this.byClient.values()];
  }

  get size(): number {
    return this.byClient.size;
  }

  /** Leaf clients under the joined sessions: ordinary clients count 1, edges their reported clients. */
  leafCount(): number {
    return this.leaves;
  }

  /** An edge's new summary: its examples become the session's (at least 1, as a hello's). */
  setEdgeSummary(clientId: string, summary: EdgeSummary): void {
    const s = this.byClient.get(clientId);
    if (!s?.edge) return;
    this.leaves += summary.clients - leavesOf(s);
    s.edgeSummary = summary;
    s.numExamples = Math.max(1, summary.examples);
    this.emit('summary', s);
  }

  send<E extends ServerEventName>(clientId: string, event: E, payload: ServerPayload<E>): boolean {
    const s = this.byClient.get(clientId);
    if (!s) return false;
    s.peer.emit(event, payload);
    return true;
  }

  /** Emits with an ack; resolves to the reply, rejects on timeout or when the client is gone. */
  request<E extends AckedServerEventName>(clientId: string, event: E, payload: ServerPayload<E>, timeoutMs: number): Promise<unknown> {
    const s = this.byClient.get(clientId);
    if (!s) return Promise.reject(new Error('client not connected'));
    return s.peer.request(event, payload, timeoutMs);
  }

  broadcast<E extends ServerEventName>(event: E, payload: ServerPayload<E>): void {
    for (const s of this.byClient.values()) s.peer.emit(event, payload);
  }

  /** Resolves true once no client is joined, false at the deadline. */
  waitForEmpty(timeoutMs: number): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onLeft = () => {
        if (this.size > 0) return;
        clearTimeout(timer);
        this.off('left', onLeft);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off('left', onLeft);
        resolve(false);
      }, timeoutMs);
      this.on('left', onLeft);
    });
  }

  /**
   * Resolves true once at least `count` leaf clients are joined (leafCount: an edge counts its
   * reported clients), false at the deadline or on abort. Never waits without a deadline.
   */
  waitForClients(count: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.leafCount() >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off('joined', onJoin);
        this.off('summary', onJoin);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onJoin = () => this.leafCount() >= count && done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('joined', onJoin);
      this.on('summary', onJoin);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
