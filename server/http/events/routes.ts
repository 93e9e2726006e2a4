/**
 * Event log routes: the paginated list (JSON or CSV), the attendance view and the live feed
 * (server-sent events). Registered by createApp when it is given an event log.
 */
import { z } from "zod";
import { eventToWire, FaceError, type EventLog, type EventQuery } from "../../../lib/core/mod.ts";
import type { Scope } from "../auth.ts";
import type { AnyRoute, RouteDef } from "../routes.ts";
import { describeIssues } from "../wire.ts";
import { attendance, dayBounds } from "./attendance.ts";
import { csvRow, EVENT_CSV_COLUMNS, eventCsvRow, wantsCsv } from "./csv.ts";
import { eventStream } from "./sse.ts";
import { AttendanceBody, AttendanceQuery, EventsPageBody, EventsQuery } from "./wire.ts";

/** Reading who came when: the company's managers (and admins). */
export const EVENTS_SCOPE: Scope = "manage";

const DEFAULT_LIMIT = 100;
/** CSV is for downloads: one answer holds up to this many rows by default. */
const DEFAULT_CSV_LIMIT = 10_000;
const MAX_JSON_LIMIT = 1000;

function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.output<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new FaceError("INVALID_ARGUMENT", describeIssues(parsed.error), { details: parsed.error.issues });
  return parsed.data;
}

/** The log (and the shutdown signal for live streams); throws UNAVAILABLE while the server starts. */
export type EventDeps = () => { log: EventLog; closing: AbortSignal };

export function eventRoutes(deps: EventDeps): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: "/v1/companies/:company/events",
      operationId: "list_events",
      summary:
        "Recorded events (kiosk identifications, stranger events when on, recognize calls with record: true), newest first (order=asc: oldest first), paginated by cursor; `Accept: text/csv` (or format=csv) for CSV",
      tag: "events",
      scope: EVENTS_SCOPE,
      query: EventsQuery,
      produces: ["text/csv"],
      ok: { status: 200, schema: EventsPageBody, description: "a page of events; CSV with a header row and X-Next-Cursor when asked" },
      errors: [],
      async run({ params, query, req }) {
        const { log } = deps();
        const q = parseQuery(EventsQuery, query);
        const csv = wantsCsv(req.headers.get("accept"), q.format);
        if (!csv && (q.limit ?? 0) > MAX_JSON_LIMIT) throw new FaceError("INVALID_ARGUMENT", `limit: at most ${MAX_JSON_LIMIT} (CSV: 100000)`);
        const eq: EventQuery = {
          companyId: params.company,
          since: q.since,
          until: q.until,
          userId: q.user_id,
          type: q.type,
          limit: q.limit ?? (csv ? DEFAULT_CSV_LIMIT : DEFAULT_LIMIT),
          cursor: q.cursor,
          order: q.order,
        };
        const page = await log.list(eq);
        if (csv) {
          const text = csvRow(EVENT_CSV_COLUMNS) + page.events.map(eventCsvRow).join("");
          const headers: Record<string, string> = {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": `attachment; filename="events-${safeName(params.company)}.csv"`,
          };
          if (page.nextCursor) headers["X-Next-Cursor"] = page.nextCursor;
          return { response: new Response(text, { status: 200, headers }) };
        }
        return { body: { company_id: params.company, events: page.events.map(eventToWire), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/events/stream",
      operationId: "stream_events",
      summary:
        "Live events as server-sent events (`event: identified` or `event: unknown`, `id:` the event id); reconnect with `Last-Event-ID` (or ?last_event_id=) to get what was missed first. The key may be given as ?key= (EventSource cannot set headers)",
      tag: "events",
      scope: EVENTS_SCOPE,
      keyInQuery: true,
      produces: ["text/event-stream"],
      query: z.object({ last_event_id: z.string().max(64).optional(), key: z.string().optional() }),
      ok: { status: 200, schema: z.string().describe("text/event-stream"), description: "an endless text/event-stream" },
      errors: [],
      async run({ params, query, req }) {
        const { log, closing } = deps();
        const lastEventId = req.headers.get("last-event-id") ?? query.last_event_id ?? undefined;
        const stream = eventStream({ log, companyId: params.company, lastEventId: lastEventId || undefined, signal: req.signal, closing });
        return {
          response: new Response(stream, {
            status: 200,
            headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no" },
          }),
          stream: true,
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/attendance",
      operationId: "attendance",
      summary: "First and last event of each user on a day (date=YYYY-MM-DD, utc_offset=+HH:MM, default UTC); CSV with Accept: text/csv",
      tag: "events",
      scope: EVENTS_SCOPE,
      query: AttendanceQuery,
      produces: ["text/csv"],
      ok: { status: 200, schema: AttendanceBody, description: "one row per user seen that day, by first arrival" },
      errors: [],
      async run({ params, query, req }) {
        const { log } = deps();
        const q = parseQuery(AttendanceQuery, query);
        if (!Number.isFinite(dayBounds(q.date, q.utc_offset)[0])) throw new FaceError("INVALID_ARGUMENT", `date: ${q.date} is not a date`);
        const rows = await attendance(log, params.company, q.date, q.utc_offset, q.user_id);
        if (wantsCsv(req.headers.get("accept"), q.format)) {
          const text =
            csvRow(["user_id", "date", "first_at", "last_at", "events", "first_kiosk_id", "last_kiosk_id"]) +
            rows.map((r) => csvRow([r.userId, q.date, r.first.at, r.last.at, r.events, r.first.kioskId, r.last.kioskId])).join("");
          return {
            response: new Response(text, {
              headers: {
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": `attachment; filename="attendance-${safeName(params.company)}-${q.date}.csv"`,
              },
            }),
          };
        }
        const moment = (e: (typeof rows)[number]["first"]) => ({ at: e.at, event_id: e.id, kiosk_id: e.kioskId, confidence: e.confidence });
        return {
          body: {
            company_id: params.company,
            date: q.date,
            utc_offset: q.utc_offset,
            users: rows.map((r) => ({ user_id: r.userId, first: moment(r.first), last: moment(r.last), events: r.events })),
          },
        };
      },
    }),
  ];
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
}
