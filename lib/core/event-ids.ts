/**
 * Event ids (ULIDs: sortable by time as strings) and the opaque page cursors of the list endpoints.
 * Runtime-free: no `node:` imports.
 */
import { z } from "zod";
import { FaceError } from "./errors.ts";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A ULID: 10 characters of milliseconds, 16 of randomness, in Crockford base32, so ids sort by time
 * as strings. Within one millisecond the random part is incremented (monotonic within a process).
 */
export function newEventId(nowMs: number = Date.now()): string {
  if (nowMs <= lastTime) {
    // same (or an earlier: clock stepped back) millisecond: keep the time, increment the randomness
    let i = lastRandom.length - 1;
    while (i >= 0 && lastRandom[i] === 31) lastRandom[i--] = 0;
    if (i < 0) throw new FaceError("INTERNAL", "event id space exhausted for this millisecond");
    lastRandom[i]++;
    nowMs = lastTime;
  } else {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    lastRandom = Array.from(bytes, (b) => b & 31);
    lastRandom[0] &= 15; // headroom for increments
    lastTime = nowMs;
  }
  let time = "";
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + lastRandom.map((v) => CROCKFORD[v]).join("");
}

/**
 * For tests: forget the generator's last time. A test that makes ids in the future otherwise holds
 * every later id of the process there (ids never go back), and an id-time `since` bound (the SSE
 * replay's) then skips events recorded at the real time.
 */
export function resetEventIdClock(): void {
  lastTime = -1;
  lastRandom = [];
}

/** The millisecond time encoded in an event id. */
export function eventIdTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

/** Cursors are opaque to clients: base64url of a small JSON object. */
export function encodeCursor(value: Record<string, string | number>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    const b64 = cursor.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const json = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    return schema.parse(JSON.parse(json));
  } catch {
    throw new FaceError("INVALID_ARGUMENT", "cursor: not a cursor from a previous page");
  }
}

export const IdCursorSchema = z.object({ after: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/) });
/** A cursor after any id (the company and user lists). */
export const IdCursorAnySchema = z.object({ after: z.string().min(1).max(128) });
