import type { INestApplicationContext } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { type Observable, isObservable } from 'rxjs';
import type { Server, ServerOptions, Socket } from 'socket.io';

/** What `Server.adapter()` takes (socket.io's in-memory adapter by default; a cluster passes the Redis adapter). */
export type IoAdapterFactory = NonNullable<Parameters<Server['adapter']>[0]>;

/**
 * socket.io server with transport limits derived from the model: `maxHttpBufferSize` must fit a
 * whole sealed update, and stays well under what would let one message exhaust memory. With an
 * adapter factory (a cluster's Redis adapter) broadcasts reach sockets on every node; messages to
 * one socket (round:start's weights, updates) never go through it.
 *
 * Messages reach the gateways' handlers through one plain socket.io listener per event (see
 * bindMessageHandlers) instead of Nest's chain of rxjs operators per event and socket.
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

  /**
   * What IoAdapter does, without rxjs in between: each event's listener calls Nest's handler
   * (guards, pipes and exception filters are inside `callback`, as before), waits for its result
   * and acks it; no ack for an undefined or null result or where the handler acks itself, a
   * `{ event, data }` result is emitted instead. A handler that fails past its exception filter is
   * logged, as IoAdapter does. socket.io drops a socket's listeners with it, and delivers nothing
   * after disconnect, so there is nothing to unsubscribe. Per join (1,000 joins, bench:coordinator
   * profile) Nest's version cost about 0.1 ms of the event loop: rxjs plus its own wrappers.
   */
  override bindMessageHandlers(socket: Socket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(message as string, (...args: unknown[]) => {
        const { data, ack } = this.mapPayload(args.length === 1 ? args[0] : args);
        const manualAck = isAckHandledManually ? undefined : ack;
        try {
          Promise.resolve(callback(data, ack)).then((result: unknown) => {
            // A handler may return an Observable (none of ours does): Nest's own path for it.
            if (isObservable(result)) transform(result).subscribe({ next: (r) => this.reply(socket, manualAck, r), error: this.failed });
            else this.reply(socket, manualAck, result);
          }, this.failed);
        } catch (err) {
          this.failed(err);
        }
      });
    }
  }

  /** A handler's result: emitted as `{ event, data }`, else the ack (none for undefined or null, or where the handler acks itself: `ack` undefined). */
  private reply(socket: Socket, ack: unknown, response: unknown): void {
    if (response === undefined || response === null) return;
    const r = response as { event?: string; data?: unknown };
    if (r.event) socket.emit(r.event, r.data);
    else if (typeof ack === 'function') (ack as (r: unknown) => void)(response);
  }

  private readonly failed = (err: unknown): void => this.logger.error(err);

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
