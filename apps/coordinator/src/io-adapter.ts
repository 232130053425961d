import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';

/**
 * socket.io server with transport limits derived from the model: `maxHttpBufferSize` must fit a
 * whole sealed update, and stays well under what would let one message exhaust memory.
 */
export class FedlinkIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly maxHttpBufferSize: number,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    return super.createIOServer(port, {
      ...options,
      maxHttpBufferSize: this.maxHttpBufferSize,
      // Training blocks a client's event loop between yields; be patient with heartbeats.
      pingInterval: 25_000,
      pingTimeout: 60_000,
    } as ServerOptions);
  }
}
