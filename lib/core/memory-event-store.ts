/** The in-memory EventStore: event log and webhook outbox for tests and the memory gallery store. */
import { FaceError } from "./errors.ts";
import { EventFeed } from "./event-feed.ts";
import { decodeCursor, encodeCursor, eventIdTime, IdCursorSchema, newEventId } from "./event-ids.ts";
import {
  deliveryKey,
  matchesFilters,
  newRecord,
  WebhookConfigSchema,
  webhookPayload,
  type Delivery,
  type EventListener,
  type EventPage,
  type EventQuery,
  type EventRecord,
  type EventStore,
  type NewEvent,
  type WebhookConfig,
  type WebhookStatus,
} from "./event-log.ts";

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
    const now = Date.now();
    const record = newRecord(input, newEventId(now), now);
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
      if (!matchesFilters(e, q)) return false;
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
