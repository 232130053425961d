import { Inject } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import {
  type Ack,
  type ChallengeReply,
  type ClientToServerEvents,
  EVENTS,
  FedlinkError,
  type HelloReply,
  SECAGG_EVENTS,
  type ServerToClientEvents,
  type UpdateReply,
  type WireError,
  parseClientPayload,
  toWireError,
} from '@fedlink/protocol';
import { Admission } from './admission.js';
import { Gatekeeper } from './gatekeeper.js';
import { ClientRegistry } from './client-registry.js';
import { ENGINE, type FederationEngine } from '../rounds/engine.js';
import { ReceiveBudget } from '../rounds/receive-budget.js';
import { setReading, setReadingAll } from './socket-reading.js';
import { RunContext } from './run-context.js';
import type { Peer } from './peer.js';
import { LOG } from '../tokens.js';
import type { Log } from '../log.js';

/** A coordinator-side socket, typed by the protocol's event map. */
type FederationSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

/** Socket.io's emit, typed per event by `FederationSocket`, called with an event the Peer's own signature already checked. */
type EmitAny = (event: string, payload: unknown) => boolean;
type RequestAny = (event: string, payload: unknown) => Promise<unknown>;

function peerOf(socket: FederationSocket): Peer {
  return {
    id: socket.id,
    address: socket.handshake.address,
    emit: (event, payload) => void (socket.emit as unknown as EmitAny).call(socket, event, payload),
    request: (event, payload, timeoutMs) => {
      const timed = socket.timeout(timeoutMs);
      return (timed.emitWithAck as unknown as RequestAny).call(timed, event, payload);
    },
    disconnect: () => void socket.disconnect(true),
  };
}

/** An ack as the protocol's event map defines it (`{ ok: true, ...body }` or a typed error). */
type Reply<T = object> = Ack<T>;

/**
 * socket.io events of the federation protocol. Thin: it adapts sockets to peers, turns every
 * result into an ack and every failure into a typed error; the decisions live in Admission and
 * the FederationEngine.
 */
@WebSocketGateway({ cors: { origin: true } })
export class FederationGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  constructor(
    @Inject(Admission) private readonly admission: Admission,
    @Inject(ClientRegistry) private readonly registry: ClientRegistry,
    @Inject(ENGINE) private readonly engine: FederationEngine,
    @Inject(RunContext) private readonly run: RunContext,
    @Inject(LOG) private readonly log: Log,
    @Inject(Gatekeeper) private readonly gate: Gatekeeper,
    @Inject(ReceiveBudget) private readonly receiveBudget: ReceiveBudget,
  ) {}

  /** Upload backpressure: while the updates held pass the receive budget, no client socket is read (receive-budget.ts). */
  afterInit(server: Server): void {
    this.receiveBudget.on('pressure', (paused) => {
      const sockets = setReadingAll(server, !paused);
      const b = this.receiveBudget;
      this.log.debug(paused ? 'reading paused' : 'reading resumed', { sockets, heldMB: +(b.held / 2 ** 20).toFixed(1), limitMB: +(b.limitBytes / 2 ** 20).toFixed(1) });
    });
  }

  handleConnection(socket: FederationSocket): void {
    if (this.receiveBudget.paused) setReading(socket, false);
    this.log.debug('connection', { peer: socket.id, address: socket.handshake.address });
    const refusal = this.gate.connect(socket.id, socket.handshake.address, 'pending');
    if (refusal) {
      this.gate.refused('connection', refusal.code);
      socket.emit(EVENTS.error, refusal.toWire());
      // No ack to wait for: engine.io flushes the error before it closes the transport.
      socket.disconnect(true);
      return;
    }
    // A connection that hasn't joined by the deadline gives its slot back.
    const deadline = setTimeout(() => {
      if (!this.gate.isPending(socket.id)) return;
      const late = new FedlinkError('timeout', `no accepted hello within ${this.gate.handshakeTimeoutMs} ms of connecting`);
      this.gate.refused('connection', late.code);
      socket.emit(EVENTS.error, late.toWire());
      socket.disconnect(true);
    }, this.gate.handshakeTimeoutMs);
    deadline.unref();
    // Counted down on the socket itself: Nest binds handleDisconnect only after this method
    // returns, and would miss a socket closed right here.
    socket.once('disconnect', () => {
      clearTimeout(deadline);
      this.gate.disconnect(socket.id);
    });
  }

  handleDisconnect(socket: FederationSocket): void {
    this.admission.forget(socket.id);
    const s = this.registry.removePeer(socket.id, 'disconnected');
    if (s) this.log.info('client left', { run: this.engine.runId, client: s.clientId });
  }

  @SubscribeMessage(EVENTS.challenge)
  onChallenge(@ConnectedSocket() socket: FederationSocket): Reply<ChallengeReply> {
    return { ok: true, ...this.admission.challenge(peerOf(socket)) };
  }

  @SubscribeMessage(EVENTS.hello)
  async onHello(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply<HelloReply>> {
    try {
      if (this.engine.snapshot().result) throw new FedlinkError('run_finished', `run ${this.engine.runId} has ended`);
      this.gate.checkHello(socket.handshake.address);
      this.gate.checkJoinRate();
      // Takes a client slot before the (async) admission, so concurrent hellos can't overrun the
      // budget; a refused hello closes the socket, which gives the slot back.
      this.gate.promote(socket.id);
      const session = await this.admission.admit(peerOf(socket), body);
      this.log.info('client joined', { run: this.engine.runId, client: session.clientId, platform: session.platform, backend: session.backend, examples: session.numExamples });
      return { ok: true, welcome: this.run.welcome(session.clientId, this.engine.snapshot().round) };
    } catch (err) {
      return this.refuse(socket, EVENTS.hello, err, true);
    }
  }

  @SubscribeMessage(EVENTS.update)
  async onUpdate(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply<UpdateReply>> {
    try {
      const session = this.registry.byPeerId(socket.id);
      if (!session) throw new FedlinkError('not_joined', 'send hello before round:update');
      await this.engine.submitUpdate(session, body);
      return { ok: true, accepted: true };
    } catch (err) {
      return this.refuse(socket, EVENTS.update, err, false);
    }
  }

  @SubscribeMessage(EVENTS.withdraw)
  onWithdraw(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Reply {
    try {
      const session = this.registry.byPeerId(socket.id);
      if (!session) throw new FedlinkError('not_joined', 'send hello before round:withdraw');
      this.engine.withdraw(session, body);
      return { ok: true };
    } catch (err) {
      return this.refuse(socket, EVENTS.withdraw, err, false);
    }
  }

  /** An edge's group changed: its leaf clients and examples (what the parent's selection allocates by), its own edges. */
  @SubscribeMessage(EVENTS.edgeSummary)
  onEdgeSummary(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Reply {
    try {
      const session = this.registry.byPeerId(socket.id);
      if (!session) throw new FedlinkError('not_joined', 'send hello before edge:summary');
      if (!session.edge) throw new FedlinkError('bad_request', 'only an edge aggregator (hello role edge) may send edge:summary');
      this.registry.setEdgeSummary(session.clientId, parseClientPayload(EVENTS.edgeSummary, body));
      session.lastSeen = Date.now();
      return { ok: true };
    } catch (err) {
      return this.refuse(socket, EVENTS.edgeSummary, err, false);
    }
  }

  @SubscribeMessage(SECAGG_EVENTS.advertise)
  onAdvertise(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply> {
    return this.secagg(socket, SECAGG_EVENTS.advertise, body);
  }

  @SubscribeMessage(SECAGG_EVENTS.shares)
  onShares(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply> {
    return this.secagg(socket, SECAGG_EVENTS.shares, body);
  }

  @SubscribeMessage(SECAGG_EVENTS.masked)
  onMasked(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply> {
    return this.secagg(socket, SECAGG_EVENTS.masked, body);
  }

  @SubscribeMessage(SECAGG_EVENTS.unmask)
  onUnmask(@ConnectedSocket() socket: FederationSocket, @MessageBody() body: unknown): Promise<Reply> {
    return this.secagg(socket, SECAGG_EVENTS.unmask, body);
  }

  private async secagg(socket: FederationSocket, event: string, body: unknown): Promise<Reply> {
    try {
      const session = this.registry.byPeerId(socket.id);
      if (!session) throw new FedlinkError('not_joined', 'send hello before secure-aggregation messages');
      await this.engine.submitSecAgg(session, body);
      return { ok: true };
    } catch (err) {
      return this.refuse(socket, event, err, false);
    }
  }

  /** Typed error in the ack; on a failed hello also as an event, then the socket is closed. */
  private refuse(socket: FederationSocket, event: string, err: unknown, disconnect: boolean): { ok: false; error: WireError } {
    const error = toWireError(err);
    this.gate.refused(event, error.code);
    if (!(err instanceof FedlinkError)) this.log.error('unexpected error', { peer: socket.id, error: String(err) });
    if (disconnect) {
      socket.emit(EVENTS.error, error);
      // Let the ack and the error event flush before closing.
      setTimeout(() => socket.disconnect(true), 50);
    }
    return { ok: false, error };
  }
}
