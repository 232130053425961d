import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';

/** What `Server.adapter()` takes (socket.io's in-memory adapter by default; a cluster passes the Redis adapter). */
export type IoAdapterFactory = NonNullable<Parameters<Server['adapter']>[0]>;

/**
 * socket.io server with transport limits derived from the model: `maxHttpBufferSize` must fit a
 * whole sealed update, and stays well under what would let one message exhaust memory. With an
 * adapter factory (a cluster's Redis adapter) broadcasts reach sockets on every node; messages to
 * one socket (round:start's weights, updates) never go through it.
 */
export class FedlinkIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly maxHttpBufferSize: number,
    private readonly adapterFactory?: IoAdapterFactory,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server = this.createServer(port, options);
    if (this.adapterFactory) server.adapter(this.adapterFactory);
    return server;
  }

  private createServer(port: number, options?: ServerOptions): Server {
    return super.createIOServer(port, {
      ...options,
      maxHttpBufferSize: this.maxHttpBufferSize,
      // Training blocks a client's event loop between yields; be patient with heartbeats.
      pingInterval: 25_000,
      pingTimeout: 60_000,
    } as ServerOptions);
  }
}
