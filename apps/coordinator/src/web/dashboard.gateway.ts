import { Inject, type OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { DASHBOARD_EVENTS, DASHBOARD_NAMESPACE, EVENTS } from '@fedlink/protocol';
import { Gatekeeper } from '../federation/gatekeeper.js';
import { ClientRegistry } from '../federation/client-registry.js';
import { ENGINE, type FederationEngine } from '../rounds/engine.js';
import { RunContext } from '../federation/run-context.js';
import { InMemoryRunStore } from '../state/run-history.js';
import { DashboardFeed } from './dashboard-feed.js';

/**
 * The dashboard's live channel: a read-only socket.io namespace. A new connection gets a snapshot,
 * then the feed's events. It subscribes to no client event, so a dashboard can't act on the run.
 */
@WebSocketGateway({ namespace: DASHBOARD_NAMESPACE, cors: { origin: true } })
export class DashboardGateway implements OnGatewayConnection, OnModuleDestroy {
  @WebSocketServer() private readonly namespace: Namespace | undefined;
  private readonly feed: DashboardFeed;

  constructor(
    @Inject(RunContext) run: RunContext,
    @Inject(ENGINE) engine: FederationEngine,
    @Inject(ClientRegistry) registry: ClientRegistry,
    @Inject(InMemoryRunStore) store: InMemoryRunStore,
    @Inject(Gatekeeper) private readonly gate: Gatekeeper,
  ) {
    // Events before the namespace exists have no audience: a later connection gets a snapshot.
    this.feed = new DashboardFeed({ run, state: engine.state, events: engine, registry, rounds: () => store.rounds, participation: (id) => engine.participation?.(id) ?? 'idle' }, (event, payload) => this.namespace?.emit(event, payload));
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
    socket.emit(DASHBOARD_EVENTS.snapshot, this.feed.snapshot());
  }

  onModuleDestroy(): void {
    this.feed.close();
  }
}
