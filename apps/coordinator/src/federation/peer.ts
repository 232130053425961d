import type { AckedServerEventName, ServerEventName, ServerPayload } from '@fedlink/protocol';

/**
 * What the domain needs of a connection; the gateway adapts socket.io sockets to it. Events and
 * payloads are the protocol's event map (`SERVER_EVENTS`), so a send with the wrong payload for
 * its event does not compile.
 */
export interface Peer {
  /** Connection id (socket.io socket id). */
  readonly id: string;
  readonly address: string;
  emit<E extends ServerEventName>(event: E, payload: ServerPayload<E>): void;
  /** Emits with an ack; resolves to the raw reply (the caller validates it), rejects when none comes in time. */
  request<E extends AckedServerEventName>(event: E, payload: ServerPayload<E>, timeoutMs: number): Promise<unknown>;
  disconnect(): void;
}
