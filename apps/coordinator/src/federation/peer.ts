/** What the domain needs of a connection; the gateway adapts socket.io sockets to it. */
export interface Peer {
  /** Connection id (socket.io socket id). */
  readonly id: string;
  readonly address: string;
  emit(event: string, payload: unknown): void;
  /** Emits with an ack; rejects when the peer does not answer within the timeout. */
  request(event: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  disconnect(): void;
}
