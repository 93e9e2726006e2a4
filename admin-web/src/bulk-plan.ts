/**
 * Bulk enrollment's plan, without the DOM: the chosen files (a zip's entries, a folder's files) →
 * one item per photo. `<person>/<photo>` gives the person's id (the folder) and the face id (the
 * file name without extension); a CSV `id,name,file` (in the zip or chosen beside the photos)
 * names people instead and gives their display names. Resume bookkeeping lives here too.
 */

export interface BulkFile {
  /** Path inside the zip or the chosen folder ("people/ann/1.jpg"). */
  path: string;
  bytes: Uint8Array;
}

export interface BulkItem {
  userId: string;
  faceId: string;
  name?: string;
  path: string;
  bytes: Uint8Array;
}

export interface BulkPlan {
  items: BulkItem[];
  /** Files that are not photos of a person, or CSV rows whose file is not there: shown, not sent. */
  ignored: string[];
}

const IMAGE = /\.(jpe?g|png|webp)$/i;
const BAD = /[\u0000-\u001f\u007f]/;

const clean = (s: string) => s.normalize("NFC").trim();
const validId = (s: string) => s.length > 0 && s.length <= 128 && !BAD.test(s);
const baseName = (p: string) => p.split("/").pop() ?? p;
const stem = (p: string) => baseName(p).replace(/\.[^.]+$/, "");

/** RFC 4180 rows (quotes, "" escapes, CRLF or LF). */
export function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.some((c) => c.trim() !== ""));
}

/** The files → items, in path order (a person's photos together, the first creates them). */
export function planBulk(files: BulkFile[]): BulkPlan {
  const ignored: string[] = [];
  const usable = files.filter((f) => !f.path.split("/").some((part) => part.startsWith(".") || part === "__MACOSX"));
  const csv = usable.find((f) => /\.csv$/i.test(f.path));
  const photos = usable.filter((f) => IMAGE.test(f.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const f of usable) if (f !== csv && !IMAGE.test(f.path)) ignored.push(f.path);
  const items: BulkItem[] = [];
  if (csv) {
    const rows = csvRows(new TextDecoder().decode(csv.bytes));
    const header = (rows.shift() ?? []).map((h) => h.trim().toLowerCase());
    const col = (...names: string[]) => names.map((n) => header.indexOf(n)).find((i) => i >= 0) ?? -1;
    const id = col("id", "user_id");
    const name = col("name", "display_name");
    const file = col("file", "path", "photo");
    const byPath = new Map(photos.map((p) => [p.path, p]));
    const byBase = new Map(photos.map((p) => [baseName(p.path), p]));
    for (const row of rows) {
      const userId = clean(row[id] ?? "");
      const ref = clean(row[file] ?? "");
      const photo = byPath.get(ref) ?? [...byPath.values()].find((p) => p.path.endsWith(`/${ref}`)) ?? byBase.get(baseName(ref));
      if (id < 0 || file < 0 || !validId(userId) || !photo) {
        ignored.push(`CSV row ${row.join(",")}${photo ? "" : " (no such photo)"}`);
        continue;
      }
      const display = name >= 0 ? clean(row[name] ?? "") : "";
      items.push({ userId, faceId: stem(photo.path), path: photo.path, bytes: photo.bytes, ...(display ? { name: display.slice(0, 200) } : {}) });
    }
    return { items, ignored };
  }
  for (const p of photos) {
    const parts = p.path.split("/");
    const person = clean(parts[parts.length - 2] ?? "");
    const faceId = clean(stem(p.path));
    if (parts.length < 2 || !validId(person) || !validId(faceId)) {
      ignored.push(p.path);
      continue;
    }
    items.push({ userId: person, faceId, path: p.path, bytes: p.bytes });
  }
  return { items, ignored };
}

/** Batches of at most `maxItems` photos and about `maxBytes` of image bytes, a person never split across two. */
export function batches(items: BulkItem[], maxItems = 16, maxBytes = 3 * 1024 * 1024): BulkItem[][] {
  const out: BulkItem[][] = [];
  let current: BulkItem[] = [];
  let bytes = 0;
  for (const item of items) {
    const samePerson = current.length > 0 && current[current.length - 1]!.userId === item.userId;
    const full = current.length >= maxItems || bytes + item.bytes.byteLength > maxBytes;
    // a person stays in one batch unless it would pass the server's cap (32): then the create-if-absent decides
    if (current.length > 0 && ((full && !samePerson) || current.length >= 32)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes.byteLength;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The outcomes a second run does not send again (the server would say the same). */
export const FINAL_OUTCOMES: ReadonlySet<string> = new Set(["enrolled", "duplicate", "quality", "no_face", "invalid_image"]);

/** A name for this set of photos (resume finds its progress by it): company, count and every path. */
export function planSignature(company: string, items: BulkItem[]): string {
  let h = 2166136261;
  const text = `${company}\u0000${items.length}\u0000${items.map((i) => `${i.userId}/${i.faceId}:${i.bytes.byteLength}`).join("\u0000")}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return `${company}:${items.length}:${h.toString(36)}`;
}

export const itemKey = (i: { userId: string; faceId: string }) => `${i.userId}\u0000${i.faceId}`;
