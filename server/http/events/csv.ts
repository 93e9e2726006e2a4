/** CSV (RFC 4180) of events and attendance: a header row, CRLF line ends, quoted where needed. */
import type { EventRecord } from "../../../lib/core/mod.ts";

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  // A leading = + - @ would be a formula in a spreadsheet: quote it with a leading apostrophe.
  const safe = /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvRow(values: unknown[]): string {
  return `${values.map(cell).join(",")}\r\n`;
}

export const EVENT_CSV_COLUMNS = ["id", "at", "company_id", "user_id", "name", "confidence", "threshold", "kiosk_id", "source", "frames", "session_id", "liveness", "type"];

export function eventCsvRow(e: EventRecord): string {
  return csvRow([e.id, e.at, e.companyId, e.userId, e.name, e.confidence, e.threshold, e.kioskId, e.source, e.frames, e.sessionId, e.liveness, e.type]);
}

/** True when the client prefers CSV (`Accept: text/csv` or `?format=csv`). */
export function wantsCsv(accept: string | null, format: string | undefined): boolean {
  if (format) return format === "csv";
  return !!accept && /(^|,)\s*text\/csv/i.test(accept);
}
