/**
 * The live feed as server-sent events: `id: <event id>`, `event: identified` (or `unknown`: a
 * stranger event), `data: <event JSON>`.
 * A client that reconnects with `Last-Event-ID` first gets what it missed (from the log, oldest
 * first), then live events; events that arrive while the backlog is read are held and sent after
 * it, without duplicates. A comment line every 15 s keeps proxies and idle timers from closing it.
 */
import { eventIdTime, eventToWire, type EventLog, type EventRecord } from "../../../lib/core/mod.ts";

const KEEPALIVE_MS = 15_000;
/** Bound on the backlog replayed after Last-Event-ID (older gaps: page through GET .../events). */
const MAX_REPLAY = 10_000;
/** Events held for a slow client before it is cut off (it reconnects with Last-Event-ID). */
const MAX_BUFFERED = 1_000;

export interface SseOptions {
  log: EventLog;
  companyId: string;
  lastEventId?: string;
  signal: AbortSignal;
  /** All streams end when this fires (server shutdown). */
  closing: AbortSignal;
}

const enc = new TextEncoder();

export function frame(e: EventRecord): Uint8Array {
  return enc.encode(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(eventToWire(e))}\n\n`);
}

export function eventStream(o: SseOptions): ReadableStream<Uint8Array> {
  let cleanup = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      let last = o.lastEventId ?? "";
      let replaying = o.lastEventId !== undefined;
      const held: EventRecord[] = [];
      const send = (e: EventRecord) => {
        if (closed || e.id <= last) return;
        if ((controller.desiredSize ?? 0) < -MAX_BUFFERED) return close();
        last = e.id;
        controller.enqueue(frame(e));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        cleanup();
        try {
          controller.close();
        } catch {
          // already closed by the reader
        }
      };
      const unsubscribe = o.log.subscribe(o.companyId, (e) => (replaying ? held.push(e) : send(e)));
      const keepalive = setInterval(() => {
        if (!closed) controller.enqueue(enc.encode(": keepalive\n\n"));
      }, KEEPALIVE_MS);
      const onAbort = () => close();
      o.signal.addEventListener("abort", onAbort);
      o.closing.addEventListener("abort", onAbort);
      cleanup = () => {
        unsubscribe();
        clearInterval(keepalive);
        o.signal.removeEventListener("abort", onAbort);
        o.closing.removeEventListener("abort", onAbort);
      };
      if (o.signal.aborted || o.closing.aborted) return close();
      controller.enqueue(enc.encode("retry: 2000\n: facegate events\n\n"));
      if (!replaying) return;
      void (async () => {
        try {
          let cursor: string | undefined;
          let sent = 0;
          const start = o.lastEventId!;
          do {
            const page = await o.log.list({ companyId: o.companyId, order: "asc", limit: 500, cursor, ...afterId(start) });
            for (const e of page.events) if (e.id > start) send(e), sent++;
            cursor = page.nextCursor ?? undefined;
          } while (cursor && sent < MAX_REPLAY && !closed);
        } catch {
          // the live part still works; the client can page through the API for the gap
        }
        replaying = false;
        for (const e of held.splice(0)) send(e);
      })();
    },
    cancel() {
      cleanup();
    },
  });
}

/** A `since` bound from an event id's time (ids sort by time), so the replay skips older rows. */
function afterId(id: string): { since?: number } {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id) ? { since: eventIdTime(id) } : {};
}
