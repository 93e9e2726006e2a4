/** One CSV cell (RFC 4180 quoting), safe to open in a spreadsheet. */
export function csvCell(v: unknown): string {
  const text = v === null || v === undefined ? "" : String(v);
  // A cell starting with = + - @ would run as a formula in a spreadsheet (person ids are free text).
  const safe = /^[=+\-@]/.test(text) && !/^-?\d/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
