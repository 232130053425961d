/** A minimal typed event emitter that works in Node and browsers alike. */
export class TypedEmitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  private readonly listeners = new Map<keyof Events, Set<(...args: never[]) => void>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(listener);
    return () => this.listeners.get(event)?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        (l as (...a: Parameters<Events[K]>) => void)(...args);
      } catch {
        // A failing UI listener must not break the protocol.
      }
    }
  }
}
