import { Inject, type OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { DASHBOARD_EVENTS, DASHBOARD_NAMESPACE, EVENTS } from '@fedlink/protocol';
import { Gatekeeper } from '../federation/gatekeeper.js';
import { ClientRegistry } from '../federation/client-registry.js';
import { ENGINE, type FederationEngine } from '../rounds/engine.js';
import { RunContext } from '../federation/run-context.js';
import { InMemoryRunStore } from '../state/run-history.js';
import { SHARED_VIEW, type SharedRunView } from '../state/shared-view.js';
import { DashboardFeed, roundView, runView } from './dashboard-feed.js';
import type { DashboardSnapshot } from '@fedlink/protocol';

/**
 * The dashboard's live channel: a read-only socket.io namespace. A new connection gets a snapshot,
 * then the feed's events. It subscribes to no client event, so a dashboard can't act on the run.
 * On a cluster node the snapshot is the cluster's (SharedRunView) and the events are the
 * cluster's, published by whichever node has them (the leader: rounds; each node: its clients)
 * through socket.io's Redis adapter to every node's dashboards; this node's own feed stays quiet.
 */
@WebSocketGateway({ namespace: DASHBOARD_NAMESPACE, cors: { origin: true } })
export class DashboardGateway implements OnGatewayConnection, OnModuleDestroy {
  @WebSocketServer() private readonly namespace: Namespace | undefined;
  private readonly feed: DashboardFeed;
  private readonly detach: (() => void) | undefined;

  constructor(
    @Inject(RunContext) private readonly run: RunContext,
    @Inject(ENGINE) engine: FederationEngine,
    @Inject(ClientRegistry) registry: ClientRegistry,
    @Inject(InMemoryRunStore) store: InMemoryRunStore,
    @Inject(Gatekeeper) private readonly gate: Gatekeeper,
    @Inject(SHARED_VIEW) private readonly shared: SharedRunView | null,
  ) {
    // Events before the namespace exists have no audience: a later connection gets a snapshot.
    const emit = (event: string, payload: unknown) => void this.namespace?.emit(event, payload);
    this.feed = new DashboardFeed({ run, state: engine.state, events: engine, registry, rounds: () => store.rounds, participation: (id) => engine.participation?.(id) ?? 'idle' }, shared ? () => undefined : emit);
    this.detach = shared?.attach(emit);
  }

  /** The cluster's snapshot: this node's feed for the run's facts, the shared state for the rest. */
  private async sharedSnapshot(shared: SharedRunView): Promise<DashboardSnapshot> {
    const [s, rounds] = await Promise.all([shared.read(), shared.rounds()]);
    const run = this.run;
    return {
      ...this.feed.snapshot(),
      run: runView({ runId: run.runId, model: run.model, fingerprint: run.fingerprint, settings: s.settings }),
      status: s.status,
      phase: s.phase,
      round: s.round,
      openRound: s.openRound,
      rounds: rounds.map(roundView),
      clients: s.clients,
      cluster: s.cluster,
      serverTime: Date.now(),
    };
  }

  handleConnection(socket: Socket): void {
    const refusal = this.gate.connect(socket.id, socket.handshake.address, 'dashboard');
    if (refusal) {
      this.gate.refused('dashboard', refusal.code);
      socket.emit(EVENTS.error, refusal.toWire());
      socket.disconnect(true);
      return;
    }
    socket.once('disconnect', () => this.gate.disconnect(socket.id));
    if (!this.shared) {
      socket.emit(DASHBOARD_EVENTS.snapshot, this.feed.snapshot());
      return;
    }
    this.sharedSnapshot(this.shared).then(
      (snap) => socket.emit(DASHBOARD_EVENTS.snapshot, snap),
      () => socket.disconnect(true),
    );
  }

  onModuleDestroy(): void {
    this.detach?.();
    this.feed.close();
  }
}
