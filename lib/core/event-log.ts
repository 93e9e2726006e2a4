/**
 * The event log: every kiosk identification, and every recognize call that asks for it, becomes an
 * `EventRecord` with a sortable unique id. Implementations: `MemoryEventStore` (here, tests and the
 * memory store), `SqliteEventStore` (lib/service, same database as the gallery, with the webhook
 * outbox in the same transaction) and `NatsEventLog` (lib/nats, the JetStream events stream).
 * Runtime-free: no `node:` imports.
 */
import { z } from "zod";
import { FaceError } from "./errors.ts";
import { CompanyIdSchema, UserIdSchema } from "./schemas.ts";

export const EventSourceSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, "letters, digits and . _ : - only");

/** What a producer hands to `append`: the log adds `id` and `at`. */
export const NewEventSchema = z.object({
  companyId: CompanyIdSchema,
  userId: UserIdSchema,
  /** Cosine similarity (the kiosk: mean over the frames that confirmed the person). */
  confidence: z.number(),
  /** The threshold the decision was taken with (null when unknown). */
  threshold: z.number().nullable(),
  /** Free-form kiosk name (e.g. "front-door"); null for API calls that gave none. */
  kioskId: z.string().max(128).nullable(),
  /** "kiosk" for identifications, "api" for recognize calls, or the caller's own label. */
  source: EventSourceSchema,
  /** Frames that voted for the person (kiosk); null for a single-image recognize. */
  frames: z.number().int().nonnegative().nullable(),
  sessionId: z.string().max(128).optional(),
  /** Liveness evidence the kiosk attached to the decision (opaque here). */
  liveness: z.record(z.string(), z.unknown()).optional(),
});
export type NewEvent = z.infer<typeof NewEventSchema>;

export const EventRecordSchema = NewEventSchema.extend({
  /** Sortable and unique: 26-character ULID (time, then randomness; monotonic within a process). */
  id: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/),
  /** Server time of the event, ISO 8601 UTC. */
  at: z.string(),
});
export type EventRecord = z.infer<typeof EventRecordSchema>;

export const EventOrderSchema = z.enum(["desc", "asc"]);

export interface EventQuery {
  companyId: string;
  /** Inclusive lower bound on `at`, ms since the epoch. */
  since?: number;
  /** Exclusive upper bound on `at`, ms since the epoch. */
  until?: number;
  userId?: string;
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  order: "desc" | "asc";
}

export interface EventPage {
  events: EventRecord[];
  /** Pass as `cursor` for the next page; null when this page is the last. */
  nextCursor: string | null;
}

export type EventListener = (event: EventRecord) => void;

export interface EventLog {
  readonly kind: string;
  append(event: NewEvent): Promise<EventRecord>;
  list(query: EventQuery): Promise<EventPage>;
  /** Live events of one company as they are appended (the server-sent events feed). */
  subscribe(companyId: string, listener: EventListener): () => void;
  /** Deletes events older than `beforeMs` (retention); returns how many. */
  purge(beforeMs: number): Promise<number>;
  /** Deletes every event of a company (the company was deleted: its log must not come back). */
  forgetCompany(companyId: string): Promise<number>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- webhooks

export const WebhookConfigSchema = z.object({
  url: z
    .string()
    .max(2048)
    .refine((u) => {
      try {
        const p = new URL(u).protocol;
        return p === "http:" || p === "https:";
      } catch {
        return false;
      }
    }, "must be an http:// or https:// URL"),
  secret: z.string().min(16, "at least 16 characters").max(256),
});
export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;

export interface WebhookStatus {
  companyId: string;
  url: string;
  /** The last 4 characters, so an operator can tell secrets apart; the secret itself is never returned. */
  secretHint: string;
  createdAt: string;
  updatedAt: string;
  pending: number;
  deadLetters: number;
  delivered: number;
  lastError: string | null;
  lastErrorAt: string | null;
  lastSuccessAt: string | null;
  /** The newest dead letters (at most 20). */
  recentDeadLetters: Array<{ eventId: string; attempts: number; lastError: string | null; deadAt: string }>;
}

/** One event to deliver to one company's webhook. */
export interface Delivery {
  eventId: string;
  companyId: string;
  url: string;
  secret: string;
  /** The JSON body, fixed when the event was recorded (a retry sends the same bytes). */
  payload: string;
  /** Attempts made before this one. */
  attempts: number;
  /** When the event entered the outbox, ms since the epoch. */
  createdMs: number;
}

/**
 * The durable outbox: rows are written in the same transaction as the event, read when due,
 * removed on success, rescheduled or dead-lettered on failure.
 */
export interface WebhookOutbox {
  putWebhook(companyId: string, config: WebhookConfig): Promise<void>;
  /** Removes the webhook and its undelivered rows; false when there was none. */
  deleteWebhook(companyId: string): Promise<boolean>;
  webhookStatus(companyId: string): Promise<WebhookStatus | null>;
  /** Due deliveries (next attempt ≤ now), oldest first, skipping `exclude` (in flight). */
  due(nowMs: number, max: number, exclude: ReadonlySet<string>): Promise<Delivery[]>;
  /** Earliest next attempt of a pending row (null when the outbox is empty). */
  nextDueMs(): Promise<number | null>;
  succeeded(d: Delivery): Promise<void>;
  /** `retryAtMs` null: give up (dead letter). */
  failed(d: Delivery, error: string, retryAtMs: number | null): Promise<void>;
  /** Moves dead letters back to pending (due now); returns how many. */
  requeueDead(companyId: string): Promise<number>;
  /** Totals over every company (for /metrics). */
  outboxTotals(): Promise<{ pending: number; dead: number; webhooks: number }>;
}

/** An event store with a webhook outbox (embedded mode). */
export type EventStore = EventLog & WebhookOutbox;

/** The webhook body: the event as the HTTP API lists it (snake_case), with its type. */
export function webhookPayload(e: EventRecord): string {
  return JSON.stringify({ type: "identified", ...eventToWire(e) });
}

export function eventToWire(e: EventRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: e.id,
    company_id: e.companyId,
    user_id: e.userId,
    confidence: e.confidence,
    threshold: e.threshold,
    kiosk_id: e.kioskId,
    source: e.source,
    at: e.at,
    frames: e.frames,
  };
  if (e.sessionId !== undefined) out.session_id = e.sessionId;
  if (e.liveness !== undefined) out.liveness = e.liveness;
  return out;
}

// ---------------------------------------------------------------- ids and cursors

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

// ---------------------------------------------------------------- listeners

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

// ---------------------------------------------------------------- memory implementation

interface MemoryRow {
  delivery: Delivery;
  nextMs: number;
  dead: boolean;
  lastError: string | null;
  deadAt: string | null;
}

interface MemoryHook {
  config: WebhookConfig;
  createdAt: string;
  updatedAt: string;
  delivered: number;
  lastError: string | null;
  lastErrorAt: string | null;
  lastSuccessAt: string | null;
}

/** In-memory event log and outbox (tests, the memory gallery store): not durable. */
export class MemoryEventStore implements EventStore {
  readonly kind = "memory";
  private events: EventRecord[] = [];
  private readonly feed = new EventFeed();
  private readonly hooks = new Map<string, MemoryHook>();
  private readonly outbox = new Map<string, MemoryRow>();

  async append(input: NewEvent): Promise<EventRecord> {
    const e = NewEventSchema.parse(input);
    const now = Date.now();
    const record: EventRecord = { ...e, id: newEventId(now), at: new Date(now).toISOString() };
    this.events.push(record);
    const hook = this.hooks.get(record.companyId);
    if (hook) {
      this.outbox.set(`${record.companyId}\u0000${record.id}`, {
        delivery: {
          eventId: record.id,
          companyId: record.companyId,
          url: hook.config.url,
          secret: hook.config.secret,
          payload: webhookPayload(record),
          attempts: 0,
          createdMs: now,
        },
        nextMs: now,
        dead: false,
        lastError: null,
        deadAt: null,
      });
    }
    this.feed.emit(record);
    return record;
  }

  async list(q: EventQuery): Promise<EventPage> {
    const after = q.cursor ? decodeCursor(q.cursor, IdCursorSchema).after : undefined;
    const matches = this.events.filter((e) => {
      if (e.companyId !== q.companyId) return false;
      if (q.userId !== undefined && e.userId !== q.userId) return false;
      const t = eventIdTime(e.id);
      if (q.since !== undefined && t < q.since) return false;
      if (q.until !== undefined && t >= q.until) return false;
      if (after !== undefined && (q.order === "asc" ? e.id <= after : e.id >= after)) return false;
      return true;
    });
    matches.sort((a, b) => (a.id < b.id ? -1 : 1) * (q.order === "asc" ? 1 : -1));
    const page = matches.slice(0, q.limit);
    const more = matches.length > q.limit;
    return { events: page, nextCursor: more && page.length > 0 ? encodeCursor({ after: page[page.length - 1].id }) : null };
  }

  subscribe(companyId: string, listener: EventListener): () => void {
    return this.feed.subscribe(companyId, listener);
  }

  async purge(beforeMs: number): Promise<number> {
    const before = this.events.length;
    this.events = this.events.filter((e) => eventIdTime(e.id) >= beforeMs);
    return before - this.events.length;
  }

  async forgetCompany(companyId: string): Promise<number> {
    const before = this.events.length;
    this.events = this.events.filter((e) => e.companyId !== companyId);
    return before - this.events.length;
  }

  async close(): Promise<void> {
    this.feed.clear();
  }

  async putWebhook(companyId: string, config: WebhookConfig): Promise<void> {
    const now = new Date().toISOString();
    const old = this.hooks.get(companyId);
    this.hooks.set(companyId, {
      config,
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
      delivered: old?.delivered ?? 0,
      lastError: old?.lastError ?? null,
      lastErrorAt: old?.lastErrorAt ?? null,
      lastSuccessAt: old?.lastSuccessAt ?? null,
    });
    // rows already queued go to the new address with the new secret
    for (const row of this.outbox.values()) {
      if (row.delivery.companyId === companyId) row.delivery = { ...row.delivery, url: config.url, secret: config.secret };
    }
  }

  async deleteWebhook(companyId: string): Promise<boolean> {
    for (const [key, row] of this.outbox) if (row.delivery.companyId === companyId) this.outbox.delete(key);
    return this.hooks.delete(companyId);
  }

  async webhookStatus(companyId: string): Promise<WebhookStatus | null> {
    const hook = this.hooks.get(companyId);
    if (!hook) return null;
    const rows = [...this.outbox.values()].filter((r) => r.delivery.companyId === companyId);
    const dead = rows.filter((r) => r.dead);
    return {
      companyId,
      url: hook.config.url,
      secretHint: hook.config.secret.slice(-4),
      createdAt: hook.createdAt,
      updatedAt: hook.updatedAt,
      pending: rows.length - dead.length,
      deadLetters: dead.length,
      delivered: hook.delivered,
      lastError: hook.lastError,
      lastErrorAt: hook.lastErrorAt,
      lastSuccessAt: hook.lastSuccessAt,
      recentDeadLetters: dead
        .sort((a, b) => (a.deadAt! < b.deadAt! ? 1 : -1))
        .slice(0, 20)
        .map((r) => ({ eventId: r.delivery.eventId, attempts: r.delivery.attempts, lastError: r.lastError, deadAt: r.deadAt! })),
    };
  }

  async due(nowMs: number, max: number, exclude: ReadonlySet<string>): Promise<Delivery[]> {
    return [...this.outbox.values()]
      .filter((r) => !r.dead && r.nextMs <= nowMs && !exclude.has(deliveryKey(r.delivery)))
      .sort((a, b) => (a.delivery.eventId < b.delivery.eventId ? -1 : 1))
      .slice(0, max)
      .map((r) => ({ ...r.delivery }));
  }

  async nextDueMs(): Promise<number | null> {
    let next: number | null = null;
    for (const r of this.outbox.values()) if (!r.dead && (next === null || r.nextMs < next)) next = r.nextMs;
    return next;
  }

  async succeeded(d: Delivery): Promise<void> {
    this.outbox.delete(deliveryKey(d));
    const hook = this.hooks.get(d.companyId);
    if (hook) {
      hook.delivered++;
      hook.lastSuccessAt = new Date().toISOString();
    }
  }

  async failed(d: Delivery, error: string, retryAtMs: number | null): Promise<void> {
    const row = this.outbox.get(deliveryKey(d));
    const now = new Date().toISOString();
    if (row) {
      row.delivery.attempts = d.attempts + 1;
      row.lastError = error;
      if (retryAtMs === null) {
        row.dead = true;
        row.deadAt = now;
      } else row.nextMs = retryAtMs;
    }
    const hook = this.hooks.get(d.companyId);
    if (hook) {
      hook.lastError = error;
      hook.lastErrorAt = now;
    }
  }

  async requeueDead(companyId: string): Promise<number> {
    let n = 0;
    for (const row of this.outbox.values()) {
      if (row.delivery.companyId === companyId && row.dead) {
        row.dead = false;
        row.deadAt = null;
        row.nextMs = Date.now();
        n++;
      }
    }
    return n;
  }

  async outboxTotals(): Promise<{ pending: number; dead: number; webhooks: number }> {
    let pending = 0;
    let dead = 0;
    for (const r of this.outbox.values()) r.dead ? dead++ : pending++;
    return { pending, dead, webhooks: this.hooks.size };
  }
}

export const deliveryKey = (d: Pick<Delivery, "companyId" | "eventId">) => `${d.companyId}\u0000${d.eventId}`;
