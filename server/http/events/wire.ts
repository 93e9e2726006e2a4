/** Wire schemas (snake_case) of the event log, attendance, webhook and listing routes. */
import { z } from "zod";
import { IdSchema } from "../../../lib/core/mod.ts";

export const EventBody = z.object({
  type: z.enum(["identified", "unknown"]).describe("identified: somebody was recognized; unknown: a kiosk saw a face nobody matched (stranger events, STRANGER_EVENTS)"),
  id: z.string().describe("Sortable unique id (ULID): later events have greater ids"),
  company_id: z.string(),
  user_id: z.string().nullable().describe("null for an unknown event"),
  name: z.string().optional().describe("The person's display name at the time, when they had one"),
  confidence: z.number().describe("identified: the similarity that decided; unknown: the best similarity anyone reached"),
  threshold: z.number().nullable().describe("The threshold the decision used"),
  kiosk_id: z.string().nullable(),
  source: z.string().describe('"kiosk", "api", or the source given to recognize'),
  at: z.string().describe("Server time, ISO 8601 UTC"),
  frames: z.number().int().nullable().describe("Frames that voted for the person (kiosk); null for a recognize call"),
  session_id: z.string().optional(),
  liveness: z.record(z.string(), z.unknown()).optional(),
});

export const EventsPageBody = z.object({
  company_id: z.string(),
  events: z.array(EventBody),
  next_cursor: z.string().nullable().describe("Pass as ?cursor= for the next page; null on the last page"),
});

/** A time bound: ISO 8601 (a date alone means its midnight UTC) or milliseconds since the epoch. */
const TimeParam = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    const ms = /^\d{1,16}$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: "custom", message: "expected an ISO 8601 time or milliseconds since the epoch" });
      return z.NEVER;
    }
    return ms;
  });

export const EventsQuery = z.object({
  since: TimeParam.optional(),
  until: TimeParam.optional(),
  user_id: IdSchema.optional(),
  type: z.enum(["identified", "unknown"]).optional().describe("Only events of this type (default: all)"),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  cursor: z.string().max(512).optional(),
  order: z.enum(["desc", "asc"]).default("desc"),
  format: z.enum(["json", "csv"]).optional(),
});

export const AttendanceQuery = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD"),
  utc_offset: z
    .string()
    .regex(/^[+-]\d{2}:\d{2}$/, "expected +HH:MM or -HH:MM")
    .default("+00:00")
    .describe("The day's time zone offset (default UTC)"),
  user_id: IdSchema.optional(),
  format: z.enum(["json", "csv"]).optional(),
});

const Moment = z.object({ at: z.string(), event_id: z.string(), kiosk_id: z.string().nullable(), confidence: z.number() });
export const AttendanceBody = z.object({
  company_id: z.string(),
  date: z.string(),
  utc_offset: z.string(),
  users: z.array(z.object({ user_id: z.string(), first: Moment, last: Moment, events: z.number().int() })),
});

export const WebhookPutBody = z.object({
  url: z.string().min(1).max(2048),
  secret: z.string().min(16).max(256).optional().describe("HMAC key (16-256 characters); generated and returned once when omitted"),
});

export const WebhookBody = z.object({
  company_id: z.string(),
  url: z.string(),
  secret_hint: z.string().describe("Last 4 characters of the secret"),
  secret: z.string().optional().describe("Only in the answer to the PUT that generated it"),
  created_at: z.string(),
  updated_at: z.string(),
  pending: z.number().int(),
  dead_letters: z.number().int(),
  delivered: z.number().int(),
  last_error: z.string().nullable(),
  last_error_at: z.string().nullable(),
  last_success_at: z.string().nullable(),
  recent_dead_letters: z.array(
    z.object({ event_id: z.string(), attempts: z.number().int(), last_error: z.string().nullable(), dead_at: z.string() }),
  ),
});

export const RequeuedBody = z.object({ requeued: z.number().int() });

export const CompaniesPageBody = z.object({
  companies: z.array(z.object({ company_id: z.string(), users: z.number().int(), faces: z.number().int() })),
  total: z.number().int(),
  next_cursor: z.string().nullable(),
});

export const UsersPageBody = z.object({
  company_id: z.string(),
  users: z.array(z.object({ user_id: z.string(), name: z.string().optional().describe("The display name, when the person has one"), faces: z.number().int() })),
  total: z.number().int(),
  next_cursor: z.string().nullable(),
});

export const ListQuery = z.object({
  cursor: z.string().min(1).max(512).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
