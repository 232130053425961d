/**
 * Paces round:start: at most `budgetBytes` of sends are in flight (sent, not yet acknowledged)
 * at once, so the sends of a big round leave one after another instead of all queueing behind
 * each other in the sockets' buffers. A send's ack deadline starts when it leaves, so a client
 * at the back of a 1,000-client round is not timed out by bytes queued for the clients in front
 * of it. A send always leaves when nothing else is in flight (one message may exceed the budget).
 */
export class StartPacer {
  private inFlight = 0;
  private readonly queue: { bytes: number; send: () => Promise<unknown> }[] = [];

  constructor(readonly budgetBytes: number) {
    if (!(budgetBytes > 0)) throw new RangeError(`start pacing budget must be > 0, got ${budgetBytes}`);
  }

  /** Bytes sent and not yet settled. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /** Sends waiting for room. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Queues `send` (which starts the transfer and settles when it is acked, refused or timed out); runs it when there is room. */
  submit(bytes: number, send: () => Promise<unknown>): void {
    this.queue.push({ bytes, send });
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0 && (this.inFlight === 0 || this.inFlight + this.queue[0]!.bytes <= this.budgetBytes)) {
      const { bytes, send } = this.queue.shift()!;
      this.inFlight += bytes;
      const settle = (): void => {
        this.inFlight -= bytes;
        this.pump();
      };
      let sending: Promise<unknown>;
      try {
        sending = send();
      } catch {
        settle();
        continue;
      }
      sending.then(settle, settle);
    }
  }
}
