/**
 * NatsEventLog: the event log of NATS mode, on the JetStream events stream (FACEGATE_EVENTS, one
 * subject per company) that `consumeEvents` already reads. Every gateway appends to it and reads
 * from it, so the list, attendance and live feed are the cluster's, whichever gateway answers.
 *
 * - append: publish with the event id as the message id (JetStream drops a retried duplicate).
 *   The payload is an IdentifiedEvent (consumeEvents keeps working) with the event's id.
 * - list: ephemeral pull consumers filtered to the company's subject. Oldest first reads forward
 *   from `since` (or after the cursor's stream sequence) until the page is full; newest first reads
 *   backwards in growing chunks of stream sequences (or, with `since`, that window forward).
 *   The cursor is the stream sequence of the page's last event.
 * - subscribe: a core NATS subscription on the company's subject (events of every gateway).
 * - retention: the stream's max_age (EVENTS_RETENTION_DAYS updates it; purge() is a no-op).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { EventFeed, FaceError, type KioskEvent, KioskEventSchema } from "../core/internal.ts";
import {
  matchesFilters,
  newRecord,
  type EventListener,
  type EventLog,
  type EventPage,
  type EventQuery,
  type EventRecord,
  type NewEvent,
} from "../core/internal.ts";
import {
  decodeCursor,
  encodeCursor,
  eventIdTime,
  newEventId,
} from "../core/internal.ts";
import { ensureEventStream, eventSubject } from "./events.ts";
import { SUBJECT_PREFIX } from "./protocol.ts";

export interface NatsEventLogOptions {
  nc: NatsConnection;
  stream?: string;
  subjectPrefix?: string;
  /** Stream retention in seconds for a new stream (default 7 days). */
  maxAgeSeconds?: number;
  /** When set, an existing stream's max_age is changed to this (EVENTS_RETENTION_DAYS). */
  enforceMaxAgeSeconds?: number;
  /** Replicas of a new stream (NATS_KV_REPLICAS: 3 in a 3-node cluster); default 1. */
  replicas?: number;
}

const SeqCursorSchema = z.object({ seq: z.number().int().nonnegative() });
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A KioskEvent on the stream (what consumeEvents reads) ↔ an EventRecord. */
export function toStreamEvent(e: EventRecord): KioskEvent & { id: string; source: string } {
  const who = e.type === "unknown" || e.userId === null ? { type: "unknown" as const } : { type: "identified" as const, userId: e.userId };
  return {
    ...who,
    id: e.id,
    source: e.source,
    companyId: e.companyId,
    ...(e.type === "identified" && e.name !== undefined ? { name: e.name } : {}),
    confidence: e.confidence,
    bbox: null,
    at: e.at,
    sessionId: e.sessionId ?? `${e.source}:${e.id}`,
    ...(e.kioskId !== null ? { kioskId: e.kioskId } : {}),
    ...(e.threshold !== null ? { threshold: e.threshold } : {}),
    ...(e.frames !== null ? { frames: e.frames } : {}),
    ...(e.liveness !== undefined ? { liveness: e.liveness } : {}),
  };
}

const StreamExtras = z.object({ id: z.string().optional(), source: z.string().optional() });

/** Parses a stream message; events published before ids existed get one from their time and sequence. */
export function fromStreamEvent(data: unknown, seq: number): EventRecord | null {
  const parsed = KioskEventSchema.safeParse(data);
  const extras = StreamExtras.safeParse(data);
  if (!parsed.success || !extras.success) return null;
  const e = parsed.data;
  const at = Date.parse(e.at);
  let id = extras.data.id;
  if (!id || !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) id = legacyId(Number.isFinite(at) ? at : 0, seq);
  const sessionId = e.sessionId.startsWith(`${extras.data.source}:`) ? undefined : e.sessionId;
  return {
    type: e.type,
    id,
    at: e.at,
    companyId: e.companyId,
    userId: e.type === "identified" ? e.userId : null,
    ...(e.type === "identified" && e.name !== undefined ? { name: e.name } : {}),
    confidence: e.confidence,
    threshold: e.threshold ?? null,
    kioskId: e.kioskId ?? null,
    source: extras.data.source ?? "kiosk",
    frames: e.frames ?? null,
    ...(sessionId !== undefined ? { sessionId } : {}),
    ...(e.liveness !== undefined ? { liveness: e.liveness } : {}),
  };
}

/** A ULID-shaped id from a time and a stream sequence (deterministic: every gateway agrees). */
function legacyId(ms: number, seq: number): string {
  let time = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rest = "";
  let s = seq;
  for (let i = 0; i < 16; i++) {
    rest = CROCKFORD[s % 32] + rest;
    s = Math.floor(s / 32);
  }
  return time + rest;
}

export class NatsEventLog implements EventLog {
  readonly kind = "nats";
  private readonly feed = new EventFeed();
  private readonly subs = new Map<string, { sub: Subscription; users: number }>();
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    private readonly prefix: string,
  ) {}

  static async open(opts: NatsEventLogOptions): Promise<NatsEventLog> {
    const stream = await ensureEventStream(opts.nc, {
      stream: opts.stream,
      subjectPrefix: opts.subjectPrefix,
      maxAgeSeconds: opts.maxAgeSeconds,
      replicas: opts.replicas,
    });
    const jsm = await jetstreamManager(opts.nc);
    if (opts.enforceMaxAgeSeconds !== undefined) {
      const info = await jsm.streams.info(stream);
      const want = opts.enforceMaxAgeSeconds * 1e9;
      if (info.config.max_age !== want) await jsm.streams.update(stream, { ...info.config, max_age: want });
    }
    return new NatsEventLog(opts.nc, jsm, stream, opts.subjectPrefix ?? SUBJECT_PREFIX);
  }

  async append(input: NewEvent): Promise<EventRecord> {
    const now = Date.now();
    const record = newRecord(input, newEventId(now), now);
    try {
      await jetstream(this.nc).publish(eventSubject(record.companyId, this.prefix), enc.encode(JSON.stringify(toStreamEvent(record))), {
        msgID: record.id,
      });
    } catch (err) {
      throw new FaceError("UNAVAILABLE", `cannot record the event: ${(err as Error).message}`, { cause: err });
    }
    return record;
  }

  async list(q: EventQuery): Promise<EventPage> {
    const cursorSeq = q.cursor ? decodeCursor(q.cursor, SeqCursorSchema).seq : undefined;
    const matches = (e: EventRecord): boolean => {
      if (!matchesFilters(e, q)) return false;
      const t = eventIdTime(e.id);
      if (q.since !== undefined && t < q.since) return false;
      if (q.until !== undefined && t >= q.until) return false;
      return true;
    };
    const out: Array<{ e: EventRecord; seq: number }> = [];
    let more = false;
    if (q.order === "asc") {
      await this.scan(q.companyId, { afterSeq: cursorSeq, since: q.since, until: q.until }, (e, seq) => {
        if (!matches(e)) return true;
        if (out.length === q.limit) {
          more = true;
          return false;
        }
        out.push({ e, seq });
        return true;
      });
    } else if (q.since !== undefined) {
      // a bounded window: read it forward, keeping the newest limit + 1
      await this.scan(q.companyId, { beforeSeq: cursorSeq, since: q.since, until: q.until }, (e, seq) => {
        if (!matches(e)) return true;
        out.push({ e, seq });
        if (out.length > q.limit + 1) out.shift();
        return true;
      });
      out.reverse();
      more = out.length > q.limit;
      if (more) out.length = q.limit;
    } else {
      // newest first without a lower bound: read backwards in growing chunks of stream sequences,
      // so a page costs about as much as how far back its events are, not the whole stream
      const state = (await this.jsm.streams.info(this.stream)).state;
      const first = Math.max(1, state.first_seq);
      let hi = state.messages === 0 ? first : Math.min(cursorSeq ?? Number.POSITIVE_INFINITY, state.last_seq + 1);
      let size = 512;
      while (out.length <= q.limit && hi > first) {
        const lo = Math.max(first, hi - size);
        const chunk: Array<{ e: EventRecord; seq: number }> = [];
        await this.scan(q.companyId, { afterSeq: lo - 1, beforeSeq: hi, until: q.until }, (e, seq) => {
          if (matches(e)) chunk.push({ e, seq });
          return true;
        });
        out.push(...chunk.reverse());
        hi = lo;
        size *= 4;
      }
      more = out.length > q.limit;
      if (more) out.length = q.limit;
    }
    const last = out[out.length - 1];
    return { events: out.map((o) => o.e), nextCursor: more && last ? encodeCursor({ seq: last.seq }) : null };
  }

  /**
   * Reads the company's messages forward (after `afterSeq`, or from `since`), up to `beforeSeq`
   * or past `until`; `visit` returns false to stop. An ephemeral consumer's num_pending says how
   * many there are, so an empty window never waits.
   */
  private async scan(
    companyId: string,
    w: { afterSeq?: number; beforeSeq?: number; since?: number; until?: number },
    visit: (e: EventRecord, seq: number) => boolean,
  ): Promise<void> {
    const start =
      w.afterSeq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: w.afterSeq + 1 }
        : w.since !== undefined
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Math.max(0, w.since - 5_000)).toISOString() }
          : { deliver_policy: DeliverPolicy.All };
    let info;
    try {
      info = await this.jsm.consumers.add(this.stream, {
        ...start,
        filter_subject: eventSubject(companyId, this.prefix),
        ack_policy: AckPolicy.None,
        inactive_threshold: 30 * 1e9,
        mem_storage: true,
      });
    } catch (err) {
      throw new FaceError("UNAVAILABLE", `cannot read the events stream: ${(err as Error).message}`, { cause: err });
    }
    try {
      let pending = info.num_pending;
      const consumer = await jetstream(this.nc).consumers.get(this.stream, info.name);
      // stream time may trail the event's own time a little (several gateways): read a bit past `until`
      const stopNanos = w.until !== undefined ? (w.until + 5_000) * 1e6 : Infinity;
      while (pending > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(pending, 500), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          pending = m.info.pending;
          if (w.beforeSeq !== undefined && m.seq >= w.beforeSeq) return;
          if (m.info.timestampNanos > stopNanos) return;
          let data: unknown;
          try {
            data = JSON.parse(dec.decode(m.data));
          } catch {
            continue;
          }
          const e = fromStreamEvent(data, m.seq);
          if (e && !visit(e, m.seq)) return;
          if (pending === 0) break;
        }
        if (got === 0) break;
      }
    } finally {
      await this.jsm.consumers.delete(this.stream, info.name).catch(() => {});
    }
  }

  subscribe(companyId: string, listener: EventListener): () => void {
    const unsubscribe = this.feed.subscribe(companyId, listener);
    let entry = this.subs.get(companyId);
    if (!entry && !this.closed) {
      const sub = this.nc.subscribe(eventSubject(companyId, this.prefix), {
        callback: (err, m) => {
          if (err) return;
          try {
            const e = fromStreamEvent(JSON.parse(dec.decode(m.data)), 0);
            if (e && e.companyId === companyId) this.feed.emit(e);
          } catch {
            // not an event
          }
        },
      });
      entry = { sub, users: 0 };
      this.subs.set(companyId, entry);
    }
    if (entry) entry.users++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      unsubscribe();
      const e = this.subs.get(companyId);
      if (e && --e.users <= 0) {
        e.sub.unsubscribe();
        this.subs.delete(companyId);
      }
    };
  }

  /** Purges the company's subject from the stream. */
  async forgetCompany(companyId: string): Promise<number> {
    const r = await this.jsm.streams.purge(this.stream, { filter: eventSubject(companyId, this.prefix) });
    return r.purged;
  }

  /** Retention is the stream's max_age. */
  async purge(_beforeMs: number): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { sub } of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
    this.feed.clear();
  }
}
