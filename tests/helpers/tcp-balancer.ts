import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * The "one address" in front of a cluster's nodes, for tests: a round-robin TCP proxy on
 * loopback. A connection goes to the next backend that accepts it (a killed node is skipped), so
 * a client that reconnects after its node died lands on another one. Clients use websocket only,
 * so no sticky sessions are needed (docs/OPERATIONS.md: nginx does the same with upgrade headers).
 */
export interface Balancer {
  url: string;
  /** Backend port each accepted connection went to, in order. */
  readonly routed: number[];
  close(): Promise<void>;
}

export async function startBalancer(backends: number[]): Promise<Balancer> {
  let next = 0;
  const routed: number[] = [];
  const open = new Set<Socket>();
  const tryBackend = (client: Socket, left: number) => {
    if (left === 0) return client.destroy();
    const port = backends[next++ % backends.length]!;
    const upstream = connect(port, '127.0.0.1');
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      routed.push(port);
      open.add(upstream);
      upstream.on('close', () => open.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      const end = () => (client.destroy(), upstream.destroy());
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    upstream.once('error', () => {
      if (!connected) tryBackend(client, left - 1);
    });
  };
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    tryBackend(client, backends.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    routed,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
