import { type ManagerOptions, type Socket, type SocketOptions, io } from 'socket.io-client';
import type { ClientEventName, ClientPayload, ClientToServerEvents, ServerToClientEvents } from '@fedlink/protocol';

/** What a client's socket delivers: the protocol's events, and socket.io's own connection events. */
export interface ClientSocketEvents extends ServerToClientEvents {
  connect: () => void;
  connect_error: (err: Error) => void;
  disconnect: (reason: string) => void;
}

/**
 * The part of socket.io-client's `Socket<ServerToClientEvents, ClientToServerEvents>` the client
 * uses: its transport seam. A real socket is one (`connectSocketIo`); a wrapper around one can
 * watch or alter the traffic from outside the client (the simulator's fault injection does).
 */
export interface ClientSocket {
  readonly connected: boolean;
  /** The connection's id (what a hello signs), once connected. */
  readonly id: string | undefined;
  connect(): void;
  disconnect(): void;
  /** One overload per event, so each listener is checked against its event. */
  on: Overloads<{ [E in keyof ClientSocketEvents]: (event: E, listener: ClientSocketEvents[E]) => unknown }>;
  /**
   * Sends `event` and resolves with the raw ack, which the caller validates (`parseClientAck`).
   * Rejects when no ack comes within the socket's `ackTimeout`, or the connection drops first.
   * Typed for any client event (the client's own `request` ties each payload to its event).
   */
  emitWithAck(event: ClientEventName, payload: ClientPayload<ClientEventName>): Promise<unknown>;
}

/** The members of `T` as the overloads of one function. */
type Overloads<T> = UnionToIntersection<T[keyof T]>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** socket.io-client options the client connects with. */
export type ClientSocketOptions = Partial<ManagerOptions & SocketOptions>;

/** Opens the client's connection to a coordinator. */
export type Connect = (url: string, options: ClientSocketOptions) => ClientSocket;

/** The default transport: a socket.io-client connection. */
export const connectSocketIo: Connect = (url, options) => {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, options);
  return socket;
};
