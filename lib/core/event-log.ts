/**
 * The event log: every kiosk identification, and every recognize call that asks for it, becomes an
 * `EventRecord` with a sortable unique id (event-ids.ts). Implementations: `MemoryEventStore`
 * (memory-event-store.ts: tests and the memory store), `SqliteEventStore` (lib/service, same database as the gallery, with the webhook
 * outbox in the same transaction) and `NatsEventLog` (lib/nats, the JetStream events stream).
 * Runtime-free: no `node:` imports.
 */
import { z } from "zod";
import { FaceError } from "./errors.ts";
import { CompanyIdSchema, UserIdSchema } from "./schemas.ts";

export const EventSourceSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, "letters, digits and . _ : - only");

/** `identified`: somebody was recognized; `unknown`: a kiosk saw a face nobody matched (stranger events). */
export const EventTypeSchema = z.enum(["identified", "unknown"]);
export type EventType = z.infer<typeof EventTypeSchema>;

/** What a producer hands to `append`: the log adds `id` and `at`. */
export const NewEventSchema = z.object({
  /** Absent: identified (what every event was before stranger events). */
  type: EventTypeSchema.optional(),
  companyId: CompanyIdSchema,
  /** null exactly when the type is `unknown`. */
  userId: UserIdSchema.nullable(),
  /** The person's display name at the time, when they had one. */
  name: z.string().max(200).optional(),
  /** Cosine similarity (the kiosk: mean over the frames that confirmed the person; unknown: the best score seen). */
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
  /** Records written before stranger events have no type: they are identifications. */
  type: EventTypeSchema.default("identified"),
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
  /** Only events of this type (default: every type). */
  type?: EventType;
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
  return JSON.stringify(eventToWire(e));
}

/**
 * Checks what the schema cannot say across fields (an unknown event has no user, an identified one
 * has one) and gives the record its id and time: every log's `append` goes through it.
 */
export function newRecord(input: NewEvent, id: string, nowMs: number): EventRecord {
  const e = NewEventSchema.parse(input);
  const type = e.type ?? "identified";
  if ((type === "unknown") !== (e.userId === null)) {
    throw new FaceError("INVALID_ARGUMENT", type === "unknown" ? "an unknown event has no user_id" : "an identified event needs a user_id");
  }
  return { ...e, type, id, at: new Date(nowMs).toISOString() };
}

/** Does `e` pass the query's user and type filters (the time and cursor bounds are the log's)? */
export function matchesFilters(e: EventRecord, q: Pick<EventQuery, "userId" | "type">): boolean {
  if (q.userId !== undefined && e.userId !== q.userId) return false;
  return q.type === undefined || e.type === q.type;
}

export function eventToWire(e: EventRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: e.type,
    id: e.id,
    company_id: e.companyId,
    user_id: e.userId,
    ...(e.name !== undefined ? { name: e.name } : {}),
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

/** One delivery's key in an outbox: company and event id. */
export const deliveryKey = (d: Pick<Delivery, "companyId" | "eventId">) => `${d.companyId}\u0000${d.eventId}`;
