import type { EventListener, EventRecord } from "./event-log.ts";

/** Per-company listener sets (the live feed), shared by the implementations. */
export class EventFeed {
  private readonly listeners = new Map<string, Set<EventListener>>();

  subscribe(companyId: string, listener: EventListener): () => void {
    let set = this.listeners.get(companyId);
    if (!set) this.listeners.set(companyId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(companyId) === set) this.listeners.delete(companyId);
    };
  }

  emit(event: EventRecord): void {
    for (const listener of this.listeners.get(event.companyId) ?? []) {
      try {
        listener(event);
      } catch {
        // a failing listener must not stop the others (nor the producer)
      }
    }
  }

  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  clear(): void {
    this.listeners.clear();
  }
}
