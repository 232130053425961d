import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { from, mergeAll, of, type Observable } from 'rxjs';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import type { Server } from 'socket.io';
import { FedlinkIoAdapter } from '@fedlink/coordinator';

// The transform Nest passes (WebSocketsController.subscribeMessages): the awaited result as an Observable.
const nestTransform = (deferred: unknown): Observable<unknown> =>
  from(
    (async () => {
      const r = await deferred;
      return r !== null && typeof r === 'object' && 'subscribe' in r ? (r as Observable<unknown>) : of(r);
    })(),
  ).pipe(mergeAll());

describe('FedlinkIoAdapter.bindMessageHandlers (gateway messages without rxjs per socket)', () => {
  let http: HttpServer;
  let server: Server;
  let client: ClientSocket;
  const errors: unknown[] = [];
  const manualAcks: number[] = [];

  beforeAll(async () => {
    http = createServer();
    const adapter = new FedlinkIoAdapter(http as never, 1 << 20);
    // Nest's logger would print the failure; the test collects it instead.
    (adapter as unknown as { logger: { error: (e: unknown) => void } }).logger = { error: (e) => errors.push(e) };
    server = adapter.createIOServer(0);
    const handlers: MessageMappingProperties[] = [
      { message: 'sync', callback: async (data: unknown) => ({ got: data }), isAckHandledManually: false, methodName: 'sync' },
      { message: 'async', callback: async (data: unknown) => ({ later: data }), isAckHandledManually: false, methodName: 'async' },
      { message: 'nothing', callback: async () => undefined, isAckHandledManually: false, methodName: 'nothing' },
      { message: 'event', callback: async (data: unknown) => ({ event: 'pong', data }), isAckHandledManually: false, methodName: 'event' },
      { message: 'throws', // Nest's callbacks are async; a sync throw is the adapter's own safety net.
        callback: (() => { throw new Error('handler bug'); }) as never, isAckHandledManually: false, methodName: 'throws' },
      { message: 'rejects', callback: async () => { throw new Error('async handler bug'); }, isAckHandledManually: false, methodName: 'rejects' },
      { message: 'many', callback: async (data: unknown) => ({ args: data }), isAckHandledManually: false, methodName: 'many' },
      { message: 'stream', callback: () => of({ a: 1 }), isAckHandledManually: false, methodName: 'stream' },
      {
        message: 'manual',
        callback: async (_data: unknown, ack: (r: unknown) => void) => {
          manualAcks.push(1);
          ack({ mine: true });
          return { notSent: true };
        },
        isAckHandledManually: true,
        methodName: 'manual',
      },
    ];
    server.on('connection', (socket) => adapter.bindMessageHandlers(socket, handlers, nestTransform));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    client = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((r) => client.once('connect', () => r()));
  });

  afterAll(async () => {
    client.disconnect();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('a value or a promise from the handler is the ack', async () => {
    await expect(client.timeout(5000).emitWithAck('sync', { n: 1 })).resolves.toEqual({ got: { n: 1 } });
    await expect(client.timeout(5000).emitWithAck('async', 'x')).resolves.toEqual({ later: 'x' });
  });

  test('several arguments reach the handler as an array, as with Nest’s adapter', async () => {
    await expect(client.timeout(5000).emitWithAck('many', 1, 2)).resolves.toEqual({ args: [1, 2] });
  });

  test('an Observable result is acked with its value (Nest’s path)', async () => {
    await expect(client.timeout(5000).emitWithAck('stream', null)).resolves.toEqual({ a: 1 });
  });

  test('{ event, data } is emitted as that event; undefined is not acked', async () => {
    const pong = new Promise((r) => client.once('pong', r));
    client.emit('event', 42);
    await expect(pong).resolves.toBe(42);
    await expect(client.timeout(300).emitWithAck('nothing', null)).rejects.toThrow(/timed out/);
  });

  test('a handler that acks itself is acked once, by itself', async () => {
    await expect(client.timeout(5000).emitWithAck('manual', null)).resolves.toEqual({ mine: true });
    expect(manualAcks).toEqual([1]);
  });

  test('a throwing or rejecting handler is logged, not acked, and the socket keeps working', async () => {
    await expect(client.timeout(300).emitWithAck('throws', null)).rejects.toThrow(/timed out/);
    await expect(client.timeout(300).emitWithAck('rejects', null)).rejects.toThrow(/timed out/);
    expect(errors.map((e) => (e as Error).message)).toEqual(['handler bug', 'async handler bug']);
    await expect(client.timeout(5000).emitWithAck('sync', 2)).resolves.toEqual({ got: 2 });
  });
});
