/**
 * Latest wins: one item is processed at a time; while it runs, only the newest arriving item
 * waits (a newer one replaces it and the replaced one is dropped). So at most two items are held
 * (running + waiting), whatever the producer sends. Used for kiosk frames.
 */
export interface LatestSlotHandlers<T> {
  /** An item entered the slot (after the item it replaces has left): for accounting. */
  hold?(item: T): void;
  /** Processes one item; the next waiting one starts when this settles. */
  run(item: T): Promise<void>;
  /** An item left the slot: processed, replaced by a newer one (`dropped`), or cleared. */
  release(item: T, how: "done" | "dropped" | "cleared"): void;
}

export class LatestSlot<T> {
  private running = false;
  private waiting: T | null = null;
  private stopped = false;

  constructor(private readonly handlers: LatestSlotHandlers<T>) {}

  get busy(): boolean {
    return this.running;
  }

  /** Starts the item now, or makes it the waiting one (dropping the previous waiting item). */
  offer(item: T): void {
    if (this.stopped) {
      this.handlers.release(item, "cleared");
      return;
    }
    if (this.running) {
      if (this.waiting !== null) this.handlers.release(this.waiting, "dropped");
      this.handlers.hold?.(item);
      this.waiting = item;
      return;
    }
    this.handlers.hold?.(item);
    void this.loop(item);
  }

  /** No more items: the waiting one is released; the running one finishes (its result is the caller's to ignore). */
  stop(): void {
    this.stopped = true;
    if (this.waiting !== null) this.handlers.release(this.waiting, "cleared");
    this.waiting = null;
  }

  private async loop(first: T): Promise<void> {
    this.running = true;
    let item: T | null = first;
    try {
      while (item !== null && !this.stopped) {
        try {
          await this.handlers.run(item);
        } catch {
          // `run` answers its own errors; a throw must not leave the waiting item stranded.
        } finally {
          this.handlers.release(item, "done");
        }
        item = this.waiting;
        this.waiting = null;
      }
    } finally {
      this.running = false;
    }
  }
}
