/**
 * The watch hand-over: one live KV watcher per store fans out to every listener; a new listener
 * replays the bucket from a watcher of its own and is attached to the shared one once caught up.
 *
 * - Replay = a KV watcher with the last value per key (puts in revision order, then a `sync` event
 *   at the revision of the last entry, delete markers included, so the listener's revision ends at
 *   the bucket's). A marker newer than the state read at the start is delivered as a live delete.
 * - Each listener drops anything at or below the last revision it got, so the hand-over never
 *   repeats or reorders an event. Watchers are ordered consumers: they survive reconnects, server
 *   restarts and the loss of a cluster node, and resume after the last sequence they delivered.
 */
import { KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import { FaceError, type StoreEvent } from "../core/internal.ts";
import { entryToEvent, newTree, type Tree, type Warn } from "./kv-codec.ts";
import { storeError } from "./kv-writes.ts";

/** One watch() listener: its own tree view and the last revision it was given. */
type Sub = { listener: (event: StoreEvent) => void; tree: Tree; last: number; stopped: boolean };
type Shared = { last: number; subs: Set<Sub>; stop: () => void };

export class KvWatchHub {
  private readonly stops = new Set<() => void>();
  private shared: Promise<Shared> | undefined;
  private closed = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly warn: Warn,
    /** How often the live watcher's progress is checked against the bucket (default 3 s). */
    private readonly watchCheckMs = 3000,
  ) {}

  /**
   * One live watcher per store (updates only) fans out to every attached listener in the same
   * turn, so all listeners of a store see a change together. A new listener first gets its replay
   * from a watcher of its own (last value per key), which keeps delivering live changes until the
   * listener has caught up with the shared one; then it is attached and its own watcher stops.
   * Each listener drops anything at or below the last revision it got, so the hand-over never
   * repeats or reorders an event.
   */
  async watch(listener: (event: StoreEvent) => void): Promise<() => void> {
    if (this.closed) throw new FaceError("UNAVAILABLE", "KV store is closed");
    const shared = await this.sharedWatcher();
    let initialMessages: number;
    let initialSeq: number;
    try {
      const state = (await this.kv.status()).streamInfo.state;
      initialMessages = state.messages;
      initialSeq = state.last_seq;
    } catch (err) {
      throw storeError("watch", err);
    }
    const iter = await this.kv.watch({ key: ">" }).catch((err) => {
      throw storeError("watch", err);
    });
    const sub: Sub = { listener, tree: newTree(), last: 0, stopped: false };
    let replayDone!: () => void;
    const replayed = new Promise<void>((resolve) => (replayDone = resolve));
    // The housekeeping of another worker may purge markers between status() and the watcher's
    // creation: what counts is what the watcher's consumer saw, or it would wait for an entry
    // that never comes.
    let replaying = initialMessages > 0 && (await consumerPending(iter, initialMessages)) > 0;
    const tryAttach = () => {
      if (replaying || sub.stopped || sub.last < shared.last) return;
      shared.subs.add(sub);
      iter.stop();
    };
    const stop = () => {
      if (sub.stopped) return;
      sub.stopped = true;
      shared.subs.delete(sub);
      this.stops.delete(stop);
      iter.stop();
      replayDone();
    };
    this.stops.add(stop);
    if (!replaying) {
      // Empty bucket (possibly purged): nothing to replay, but the revision may be past 0.
      if (initialSeq > 0) this.emit(sub, { revision: initialSeq, type: "sync" });
      sub.last = Math.max(sub.last, initialSeq);
      replayDone();
      tryAttach();
    }
    void (async () => {
      try {
        for await (const entry of iter) {
          if (sub.stopped || shared.subs.has(sub)) break;
          // The replay is the current state as puts: delete markers only shape the tree there.
          // A marker newer than the state read at the start is a live delete, so it is delivered.
          this.deliver(sub, entry, replaying && entry.revision <= initialSeq);
          // The library marks the last entry of the initial snapshot (and all later ones) as
          // updates; `delta` 0 (caught up) ends it too when a purge shrank the snapshot meanwhile.
          if (replaying && (entry.isUpdate || entry.delta === 0)) {
            replaying = false;
            // Purged markers may have held the highest revisions; the bucket is still at initialSeq
            // (nothing between the last entry and it remains), so the listener's revision ends there.
            const revision = Math.max(entry.revision, initialSeq);
            sub.last = Math.max(sub.last, revision);
            this.emit(sub, { revision, type: "sync" });
            replayDone();
          }
          tryAttach();
        }
      } catch (err) {
        if (!sub.stopped) this.warn("KV watch ended with an error", err);
      } finally {
        replayDone();
      }
    })();
    await replayed;
    return stop;
  }

  private sharedWatcher(): Promise<Shared> {
    this.shared ??= (async () => {
      const shared: Shared = { last: 0, subs: new Set(), stop: () => undefined };
      await this.runShared(shared, 0).catch((err) => {
        this.shared = undefined;
        throw storeError("watch", err);
      });
      this.startWatchdog(shared);
      return shared;
    })();
    return this.shared;
  }

  /** (Re)starts the shared live watcher: updates only, or from `from` when resuming. */
  private async runShared(shared: Shared, from: number): Promise<void> {
    const iter = await this.kv.watch({
      key: ">",
      include: KvWatchInclude.UpdatesOnly,
      ...(from > 0 ? { resumeFromRevision: from } : {}),
    });
    shared.stop();
    shared.stop = () => iter.stop();
    void (async () => {
      try {
        for await (const entry of iter) {
          if (entry.revision <= shared.last) continue;
          shared.last = entry.revision;
          for (const sub of [...shared.subs]) this.deliver(sub, entry, false);
        }
      } catch (err) {
        if (!this.closed) this.warn("shared KV watch ended with an error", err);
      }
    })();
  }

  /**
   * The live watcher is an ordered consumer that recreates itself after missed heartbeats, but in a
   * cluster whose node held it (the stream leader's) died, it was seen stuck for 40 s and more while
   * the bucket moved on. So every `watchCheckMs` the store's last sequence is compared with what the
   * watcher delivered; behind on two checks in a row with no progress, the watcher is replaced by one
   * resuming after the last delivered revision (every listener drops what it already has).
   */
  private startWatchdog(shared: Shared): void {
    let behindSince: number | undefined;
    let lastSeen = shared.last;
    /** A bucket whose newest entries were purged markers stays "ahead" for ever: remembered here. */
    let settledAt = 0;
    const check = async () => {
      if (this.closed) return;
      let lastSeq: number;
      try {
        lastSeq = (await this.kv.status()).streamInfo.state.last_seq;
      } catch {
        return; // no leader right now: check again later
      }
      const behind = lastSeq > Math.max(shared.last, settledAt);
      if (!behind || shared.last !== lastSeen) {
        behindSince = behind ? Date.now() : undefined;
        lastSeen = shared.last;
        return;
      }
      behindSince ??= Date.now();
      if (Date.now() - behindSince < this.watchCheckMs) return;
      this.warn(`live KV watch stalled at revision ${shared.last} (bucket at ${lastSeq}): restarting it`);
      behindSince = undefined;
      try {
        await this.runShared(shared, shared.last + 1);
        settledAt = lastSeq;
      } catch (err) {
        this.warn("restarting the live KV watch failed (will retry)", err);
      }
    };
    const loop = () => {
      this.watchdog = setTimeout(() => void check().finally(() => !this.closed && loop()), this.watchCheckMs);
      this.watchdog.unref?.();
    };
    loop();
  }

  private deliver(sub: Sub, entry: KvEntry, replaying: boolean): void {
    if (sub.stopped || entry.revision <= sub.last) return;
    sub.last = entry.revision;
    const event = entryToEvent(entry, sub.tree, this.warn);
    if (event && !(replaying && event.type.endsWith(".delete"))) this.emit(sub, event);
  }

  private emit(sub: Sub, event: StoreEvent): void {
    try {
      sub.listener(event);
    } catch (err) {
      this.warn(`watch listener threw on revision ${event.revision}`, err);
    }
  }

  /** Stops every watcher. */
  close(): void {
    this.closed = true;
    clearTimeout(this.watchdog);
    for (const stop of [...this.stops]) stop();
    void this.shared?.then((s) => s.stop()).catch(() => undefined);
    this.shared = undefined;
  }
}

/** Messages the watcher's consumer had pending when created (the library keeps it on `_data`). */
async function consumerPending(iter: unknown, fallback: number): Promise<number> {
  const oc = (iter as { _data?: { info?: (cached?: boolean) => Promise<{ num_pending: number }> } })._data;
  if (typeof oc?.info !== "function") return fallback;
  try {
    return (await oc.info(true)).num_pending;
  } catch {
    return fallback;
  }
}
