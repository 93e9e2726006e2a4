/**
 * SqliteEventStore: the event log and the webhook outbox in the gallery's SQLite database (one
 * file, one handle: `SqliteGalleryStore.database`). An event and its outbox row are written in one
 * transaction, so an event that is in the log is also queued for its company's webhook, across a
 * crash (synchronous=FULL, as the gallery). No images are stored: only ids, scores and times.
 */
import type { SqliteDatabase } from "./sqlite-driver.ts";
import {
  deliveryKey,
  EventRecordSchema,
  matchesFilters,
  newRecord,
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
} from "../core/internal.ts";
import {
  decodeCursor,
  encodeCursor,
  IdCursorSchema,
  newEventId,
} from "../core/internal.ts";
import { EventFeed, type GalleryStore, MemoryEventStore } from "../core/internal.ts";
import { SqliteGalleryStore } from "./sqlite-store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  company_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_company ON events (company_id, id);
CREATE INDEX IF NOT EXISTS events_company_user ON events (company_id, user_id, id);
CREATE INDEX IF NOT EXISTS events_at ON events (at_ms);
CREATE TABLE IF NOT EXISTS webhooks (
  company_id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  last_error_at TEXT,
  last_success_at TEXT
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
  company_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  dead_at TEXT,
  last_error TEXT,
  PRIMARY KEY (company_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (dead_at, next_ms);
`;

type Row = Record<string, unknown>;

export class SqliteEventStore implements EventStore {
  readonly kind = "sqlite";
  private readonly feed = new EventFeed();
  private readonly tx: <T>(fn: () => T) => T;

  /** `db`: the gallery store's handle (SqliteGalleryStore.database); this class never closes it. */
  constructor(private readonly db: SqliteDatabase) {
    db.exec(SCHEMA);
    this.tx = <T>(fn: () => T): T => db.transaction(fn).immediate();
  }

  async append(input: NewEvent): Promise<EventRecord> {
    const now = Date.now();
    const record = newRecord(input, newEventId(now), now);
    this.tx(() => {
      this.db
        .query("INSERT INTO events (id, company_id, user_id, at_ms, data) VALUES (?, ?, ?, ?, ?)")
        // user_id '' marks an unknown event (the column predates them and is NOT NULL; no id is empty)
        .run(record.id, record.companyId, record.userId ?? "", now, JSON.stringify(record));
      // The outbox row in the same transaction: a recorded event is always queued for delivery.
      this.db
        .query(
          `INSERT INTO webhook_outbox (company_id, event_id, payload, attempts, next_ms, created_ms)
           SELECT company_id, ?, ?, 0, ?, ? FROM webhooks WHERE company_id = ?`,
        )
        .run(record.id, webhookPayload(record), now, now, record.companyId);
    });
    this.feed.emit(record);
    return record;
  }

  async list(q: EventQuery): Promise<EventPage> {
    const where = ["company_id = ?"];
    const args: Array<string | number> = [q.companyId];
    if (q.userId !== undefined) {
      where.push("user_id = ?");
      args.push(q.userId);
    }
    if (q.type !== undefined) where.push(q.type === "unknown" ? "user_id = ''" : "user_id <> ''");
    if (q.since !== undefined) {
      where.push("at_ms >= ?");
      args.push(q.since);
    }
    if (q.until !== undefined) {
      where.push("at_ms < ?");
      args.push(q.until);
    }
    if (q.cursor) {
      where.push(q.order === "asc" ? "id > ?" : "id < ?");
      args.push(decodeCursor(q.cursor, IdCursorSchema).after);
    }
    const rows = this.db
      .query(`SELECT data FROM events WHERE ${where.join(" AND ")} ORDER BY id ${q.order === "asc" ? "ASC" : "DESC"} LIMIT ?`)
      .all(...args, q.limit + 1) as Row[];
    const events = rows.slice(0, q.limit).map((r) => EventRecordSchema.parse(JSON.parse(r.data as string)));
    const more = rows.length > q.limit;
    return { events, nextCursor: more && events.length > 0 ? encodeCursor({ after: events[events.length - 1].id }) : null };
  }

  subscribe(companyId: string, listener: EventListener): () => void {
    return this.feed.subscribe(companyId, listener);
  }

  async purge(beforeMs: number): Promise<number> {
    return this.tx(() => this.db.query("DELETE FROM events WHERE at_ms < ?").run(beforeMs).changes);
  }

  async forgetCompany(companyId: string): Promise<number> {
    return this.tx(() => this.db.query("DELETE FROM events WHERE company_id = ?").run(companyId).changes);
  }

  async close(): Promise<void> {
    this.feed.clear();
  }

  // ---------------------------------------------------------------- webhooks

  async putWebhook(companyId: string, config: WebhookConfig): Promise<void> {
    const now = new Date().toISOString();
    this.tx(() => {
      this.db
        .query(
          `INSERT INTO webhooks (company_id, url, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (company_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at`,
        )
        .run(companyId, config.url, config.secret, now, now);
    });
  }

  async deleteWebhook(companyId: string): Promise<boolean> {
    return this.tx(() => {
      this.db.query("DELETE FROM webhook_outbox WHERE company_id = ?").run(companyId);
      return this.db.query("DELETE FROM webhooks WHERE company_id = ?").run(companyId).changes > 0;
    });
  }

  async webhookStatus(companyId: string): Promise<WebhookStatus | null> {
    const hook = this.db.query("SELECT * FROM webhooks WHERE company_id = ?").get(companyId) as Row | null;
    if (!hook) return null;
    const counts = this.db
      .query(
        `SELECT SUM(dead_at IS NULL) AS pending, SUM(dead_at IS NOT NULL) AS dead FROM webhook_outbox WHERE company_id = ?`,
      )
      .get(companyId) as Row;
    const dead = this.db
      .query(
        `SELECT event_id, attempts, last_error, dead_at FROM webhook_outbox
         WHERE company_id = ? AND dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT 20`,
      )
      .all(companyId) as Row[];
    const secret = hook.secret as string;
    return {
      companyId,
      url: hook.url as string,
      secretHint: secret.slice(-4),
      createdAt: hook.created_at as string,
      updatedAt: hook.updated_at as string,
      pending: Number(counts.pending ?? 0),
      deadLetters: Number(counts.dead ?? 0),
      delivered: hook.delivered as number,
      lastError: (hook.last_error as string | null) ?? null,
      lastErrorAt: (hook.last_error_at as string | null) ?? null,
      lastSuccessAt: (hook.last_success_at as string | null) ?? null,
      recentDeadLetters: dead.map((r) => ({
        eventId: r.event_id as string,
        attempts: r.attempts as number,
        lastError: (r.last_error as string | null) ?? null,
        deadAt: r.dead_at as string,
      })),
    };
  }

  async due(nowMs: number, max: number, exclude: ReadonlySet<string>): Promise<Delivery[]> {
    // a few more than asked: rows in flight are skipped here, not in SQL
    const rows = this.db
      .query(
        `SELECT o.company_id, o.event_id, o.payload, o.attempts, o.created_ms, w.url, w.secret
         FROM webhook_outbox o JOIN webhooks w ON w.company_id = o.company_id
         WHERE o.dead_at IS NULL AND o.next_ms <= ? ORDER BY o.next_ms, o.event_id LIMIT ?`,
      )
      .all(nowMs, max + exclude.size) as Row[];
    const out: Delivery[] = [];
    for (const r of rows) {
      const d: Delivery = {
        companyId: r.company_id as string,
        eventId: r.event_id as string,
        payload: r.payload as string,
        attempts: r.attempts as number,
        createdMs: r.created_ms as number,
        url: r.url as string,
        secret: r.secret as string,
      };
      if (exclude.has(deliveryKey(d))) continue;
      out.push(d);
      if (out.length >= max) break;
    }
    return out;
  }

  async nextDueMs(): Promise<number | null> {
    const r = this.db.query("SELECT MIN(next_ms) AS next FROM webhook_outbox WHERE dead_at IS NULL").get() as Row;
    return (r.next as number | null) ?? null;
  }

  async succeeded(d: Delivery): Promise<void> {
    this.tx(() => {
      const gone = this.db.query("DELETE FROM webhook_outbox WHERE company_id = ? AND event_id = ?").run(d.companyId, d.eventId).changes;
      if (gone > 0) {
        this.db
          .query("UPDATE webhooks SET delivered = delivered + 1, last_success_at = ? WHERE company_id = ?")
          .run(new Date().toISOString(), d.companyId);
      }
    });
  }

  async failed(d: Delivery, error: string, retryAtMs: number | null): Promise<void> {
    const now = new Date().toISOString();
    const message = error.slice(0, 500);
    this.tx(() => {
      this.db
        .query(
          `UPDATE webhook_outbox SET attempts = ?, last_error = ?, next_ms = COALESCE(?, next_ms), dead_at = ?
           WHERE company_id = ? AND event_id = ?`,
        )
        .run(d.attempts + 1, message, retryAtMs, retryAtMs === null ? now : null, d.companyId, d.eventId);
      this.db.query("UPDATE webhooks SET last_error = ?, last_error_at = ? WHERE company_id = ?").run(message, now, d.companyId);
    });
  }

  async requeueDead(companyId: string): Promise<number> {
    return this.tx(
      () =>
        this.db
          .query("UPDATE webhook_outbox SET dead_at = NULL, next_ms = ? WHERE company_id = ? AND dead_at IS NOT NULL")
          .run(Date.now(), companyId).changes,
    );
  }

  async outboxTotals(): Promise<{ pending: number; dead: number; webhooks: number }> {
    const r = this.db
      .query(
        `SELECT (SELECT COUNT(*) FROM webhook_outbox WHERE dead_at IS NULL) AS pending,
                (SELECT COUNT(*) FROM webhook_outbox WHERE dead_at IS NOT NULL) AS dead,
                (SELECT COUNT(*) FROM webhooks) AS webhooks`,
      )
      .get() as Row;
    return { pending: Number(r.pending), dead: Number(r.dead), webhooks: Number(r.webhooks) };
  }
}

/** The event store beside a gallery store: in its SQLite database, or in memory for other stores. */
export function eventStoreFor(store: GalleryStore): EventStore {
  return store instanceof SqliteGalleryStore ? new SqliteEventStore(store.database) : new MemoryEventStore();
}
