import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { ReceiveBudget, setReading, setReadingAll } from '@fedlink/coordinator';

describe('ReceiveBudget', () => {
  test('says pressure once when the held bytes pass the limit, and again only when they are back to half', () => {
    const budget = new ReceiveBudget(100);
    const said: boolean[] = [];
    budget.on('pressure', (p) => said.push(p));
    const a = budget.hold(60);
    expect([budget.held, budget.paused, said]).toEqual([60, false, []]);
    const b = budget.hold(41);
    expect([budget.held, budget.paused, said]).toEqual([101, true, [true]]);
    const c = budget.hold(30); // already paused: said once
    expect(said).toEqual([true]);
    b();
    b(); // a second release does nothing
    expect([budget.held, budget.paused]).toEqual([90, true]);
    c();
    expect([budget.held, budget.paused, said]).toEqual([60, true, [true]]); // 60 > 50: still paused
    a();
    expect([budget.held, budget.paused, said]).toEqual([0, false, [true, false]]);
    expect([budget.peakHeldBytes, budget.pauses]).toEqual([131, 1]);
    budget.hold(101)();
    expect([budget.pauses, said]).toEqual([2, [true, false, true, false]]);
  });

  test('a limit that is not a positive whole number of bytes is refused', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new ReceiveBudget(bad)).toThrow(RangeError);
  });
});

describe('setReading (a socket.io socket on websocket stops and restarts reading)', () => {
  let http: HttpServer;
  let server: Server;
  let url: string;
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    http = createServer();
    server = new Server(http, { maxHttpBufferSize: 4 << 20 });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function connect(): Promise<{ client: ClientSocket; socket: Socket; got: unknown[][] }> {
    const serverSide = new Promise<Socket>((r) => server.once('connection', r));
    const client = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    clients.push(client);
    const socket = await serverSide;
    const got: unknown[][] = [];
    socket.on('msg', (...args: unknown[]) => got.push(args));
    await new Promise<void>((r) => (client.connected ? r() : client.once('connect', () => r())));
    return { client, socket, got };
  }

  const until = async (cond: () => boolean): Promise<void> => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  };

  test('a paused socket delivers nothing, another one does; resumed, it delivers everything it was sent, in order', async () => {
    const a = await connect();
    const b = await connect();
    setReading(a.socket, false);
    const big = Buffer.alloc(1 << 20, 7);
    a.client.emit('msg', 1);
    a.client.emit('msg', 2, big);
    a.client.emit('msg', 3);
    b.client.emit('msg', 'b');
    await until(() => b.got.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.got).toEqual([]);
    setReading(a.socket, true);
    await until(() => a.got.length === 3);
    expect(a.got.map((m) => m[0])).toEqual([1, 2, 3]);
    expect(Buffer.compare(a.got[1]![1] as Buffer, big)).toBe(0);
  });

  test('setReadingAll pauses and resumes every socket of the namespace', async () => {
    const c = await connect();
    const n = setReadingAll(server, false);
    expect(n).toBe(server.of('/').sockets.size);
    c.client.emit('msg', 'late');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.got).toEqual([]);
    expect(setReadingAll(server, true)).toBe(n);
    await until(() => c.got.length === 1);
    expect(c.got[0]).toEqual(['late']);
  });
});
