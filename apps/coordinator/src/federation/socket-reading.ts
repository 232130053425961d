import type { Server, Socket } from 'socket.io';

/** What a ws WebSocket offers to stop and restart reading (ws 8: its socket's reads, and its receiver's drain). */
interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * The ws WebSocket under a socket.io socket on the websocket transport. engine.io keeps it in
 * the transport's `socket` field, which its typings mark private, hence the structural cast.
 * A socket still on HTTP long-polling has none: each of its requests is one message, bounded by
 * `maxHttpBufferSize` (fedlink's clients connect on websocket).
 */
function webSocketOf(socket: Socket): Pausable | undefined {
  const transport = socket.conn.transport as unknown as { name: string; socket?: Partial<Pausable> };
  const ws = transport.name === 'websocket' ? transport.socket : undefined;
  return typeof ws?.pause === 'function' && typeof ws.resume === 'function' ? (ws as Pausable) : undefined;
}

/**
 * Stops (`reading` false) or restarts reading one socket's connection. Bytes the client sends
 * meanwhile wait in TCP's buffers and then in the client's, so a paused client's sends slow
 * down instead of growing this process's memory. Nothing is dropped.
 */
export function setReading(socket: Socket, reading: boolean): void {
  const ws = webSocketOf(socket);
  if (reading) ws?.resume();
  else ws?.pause();
}

/** setReading for every socket of the server's default namespace (the federation's); returns how many sockets it set. */
export function setReadingAll(server: Server, reading: boolean): number {
  let n = 0;
  for (const socket of server.of('/').sockets.values()) {
    setReading(socket, reading);
    n++;
  }
  return n;
}
