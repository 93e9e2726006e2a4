/** Attendance: the first and last identification of each user on one day (in a given UTC offset); strangers do not attend. */
import type { EventLog, EventRecord } from "../../../lib/core/mod.ts";

export interface AttendanceRow {
  userId: string;
  first: EventRecord;
  last: EventRecord;
  events: number;
}

/** [start, end) of `date` (YYYY-MM-DD) at `utcOffset` (+HH:MM), in ms since the epoch. */
export function dayBounds(date: string, utcOffset: string): [number, number] {
  const start = Date.parse(`${date}T00:00:00${utcOffset === "+00:00" ? "Z" : utcOffset}`);
  return [start, start + 86_400_000];
}

/** Reads the day's events oldest first, page by page (bounded memory: one row per user). */
export async function attendance(log: EventLog, companyId: string, date: string, utcOffset: string, userId?: string): Promise<AttendanceRow[]> {
  const [since, until] = dayBounds(date, utcOffset);
  const rows = new Map<string, AttendanceRow>();
  let cursor: string | undefined;
  do {
    const page = await log.list({ companyId, since, until, userId, type: "identified", order: "asc", limit: 1000, cursor });
    for (const e of page.events) {
      if (e.userId === null) continue;
      const row = rows.get(e.userId);
      if (!row) rows.set(e.userId, { userId: e.userId, first: e, last: e, events: 1 });
      else {
        row.last = e;
        row.events++;
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return [...rows.values()].sort((a, b) => (a.first.id < b.first.id ? -1 : 1));
}
