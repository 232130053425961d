/** What the domain needs of a connection; the gateway adapts socket.io sockets to it. */
export interface Peer {
  /** Connection id (socket.io socket id). */
  readonly id: string;
  readonly address: string;
  emit(event: string, payload: unknown): void;
  disconnect(): void;
}
