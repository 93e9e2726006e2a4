/**
 * What `facegate migrate` has to do: the old system's `initial_db.json` (its people, their face ids
 * and the extra fields it kept beside them) and the folder of original photos (`<face_id>.<ext>`
 * anywhere under it, or a mapping CSV `face_id,file`) → one job per face, in file order. The
 * vectors are not read: they are another model's (lib/core/initial-data-model.ts).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, isAbsolute, join, relative, sep } from "node:path";
import { z } from "zod";
import { IdSchema, OldInitialDataSchema, profileFromFields, type UserProfile } from "../../lib/core/mod.ts";
import { isImageFile } from "./calibrate.ts";

export interface MigrateJob {
  companyId: string;
  userId: string;
  faceId: string;
  /** The photo, or null when the folder (or mapping) has none for this face. */
  photo: string | null;
  /** The user's name and metadata from the old entry's extra fields (given when the user is created). */
  profile?: UserProfile;
}

export interface MigratePlan {
  companies: string[];
  jobs: MigrateJob[];
  /** People of the file without any face id: nothing to enroll them from. */
  usersWithoutFaces: Array<{ companyId: string; userId: string }>;
  /** Entries that could not be read (skipped), in the old workers' spirit: one line each. */
  warnings: string[];
}

const UserEntry = z.looseObject({ faces: z.array(z.union([z.string(), z.number()])).default([]) });
const FaceEntry = z.looseObject({ face_id: z.union([z.string(), z.number()]), user_id: z.union([z.string(), z.number()]) });
const USER_FIELDS: ReadonlySet<string> = new Set(["user_id", "faces"]);

const id = (raw: unknown): string | null => {
  const r = IdSchema.safeParse(String(raw));
  return r.success ? r.data : null;
};

/** Face id → photo path: every image under `folder` by its name without extension. */
export function indexPhotos(folder: string): { byFace: Map<string, string[]>; count: number } {
  const byFace = new Map<string, string[]>();
  let count = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (isImageFile(name)) {
        count++;
        const face = basename(name, extname(name)).normalize("NFC");
        const list = byFace.get(face);
        if (list) list.push(path);
        else byFace.set(face, [path]);
      }
    }
  };
  walk(folder);
  return { byFace, count };
}

/**
 * A mapping CSV: a header naming `face_id` and `file` (or `path`) columns, optionally `company_id`;
 * files relative to `photos`. RFC 4180 quoting.
 */
export function readMapping(csvText: string, photos: string): Map<string, string> {
  const rows = parseCsv(csvText);
  const header = (rows.shift() ?? []).map((h) => h.trim().toLowerCase());
  const face = header.indexOf("face_id");
  const file = header.indexOf("file") >= 0 ? header.indexOf("file") : header.indexOf("path");
  if (face < 0 || file < 0) throw new Error(`the mapping file needs a header with face_id and file columns (got ${header.join(",") || "nothing"})`);
  const company = header.indexOf("company_id");
  const out = new Map<string, string>();
  for (const row of rows) {
    if (row.length === 1 && row[0]!.trim() === "") continue;
    const f = row[face]?.trim();
    const p = row[file]?.trim();
    if (!f || !p) continue;
    const key = company >= 0 && row[company]?.trim() ? `${row[company]!.trim()}\u0000${f}` : f;
    out.set(key.normalize("NFC"), isAbsolute(p) ? p : join(photos, p));
  }
  return out;
}

/** RFC 4180 rows (quoted fields with "" escapes, CRLF or LF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\n" || c === "\r") {
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
  return rows;
}

export interface PlanOptions {
  /** The photo folder. */
  photos: string;
  /** A mapping CSV's text (instead of `<face_id>.<ext>` names). */
  mapping?: string;
  /** Only these companies. */
  companies?: ReadonlySet<string>;
}

/** The old document → the jobs. Throws when the text is not an old-format document at all. */
export function planMigration(text: string, options: PlanOptions): MigratePlan {
  const doc = OldInitialDataSchema.parse(JSON.parse(text));
  const warnings: string[] = [];
  const mapping = options.mapping !== undefined ? readMapping(options.mapping, options.photos) : null;
  const index = mapping ? null : indexPhotos(options.photos);
  const photoOf = (companyId: string, faceId: string): string | null => {
    if (mapping) return mapping.get(`${companyId}\u0000${faceId}`) ?? mapping.get(faceId) ?? null;
    const found = index!.byFace.get(faceId) ?? [];
    if (found.length <= 1) return found[0] ?? null;
    // the same name in several folders: the one under the company's folder, else the first (said so)
    const inCompany = found.find((p) => relative(options.photos, p).split(sep)[0] === companyId);
    if (!inCompany) warnings.push(`Face ${faceId}: ${found.length} photos are named so; ${relative(options.photos, found[0]!)} is used`);
    return inCompany ?? found[0]!;
  };

  const companies: string[] = [];
  for (const raw of Object.keys(doc.companies)) {
    const c = id(raw);
    if (c === null) warnings.push(`Company ${JSON.stringify(raw)} has an invalid id (skipped)`);
    else if (!options.companies || options.companies.has(c)) companies.push(c);
  }
  const wanted = new Set(companies);
  const jobs: MigrateJob[] = [];
  const usersWithoutFaces: MigratePlan["usersWithoutFaces"] = [];
  for (const [rawC, byUser] of Object.entries(doc.users)) {
    const c = id(rawC);
    if (c === null || !wanted.has(c) || typeof byUser !== "object" || byUser === null) continue;
    // the face ids of a user: their own list, then the `faces` section's (both are the old format's)
    const fromSection = new Map<string, string[]>();
    const section = (doc.faces as Record<string, unknown>)[rawC];
    for (const [i, raw] of (Array.isArray(section) ? section : []).entries()) {
      const e = FaceEntry.safeParse(raw);
      const f = e.success ? id(e.data.face_id) : null;
      const u = e.success ? id(e.data.user_id) : null;
      if (f === null || u === null) {
        warnings.push(`Face entry ${i} of company ${c} is invalid (skipped)`);
        continue;
      }
      fromSection.set(u, [...(fromSection.get(u) ?? []), f]);
    }
    for (const [rawU, raw] of Object.entries(byUser as Record<string, unknown>)) {
      const u = id(rawU);
      const entry = UserEntry.safeParse(raw ?? {});
      if (u === null || !entry.success) {
        warnings.push(`User ${JSON.stringify(rawU)} in company ${c} is invalid (skipped)`);
        continue;
      }
      const faces = [...new Set([...entry.data.faces.map(id), ...(fromSection.get(u) ?? [])].filter((f): f is string => f !== null))];
      if (faces.length === 0) {
        usersWithoutFaces.push({ companyId: c, userId: u });
        continue;
      }
      const profile = profileFromFields(entry.data, USER_FIELDS);
      for (const f of faces) jobs.push({ companyId: c, userId: u, faceId: f, photo: photoOf(c, f), ...(profile ? { profile } : {}) });
    }
  }
  return { companies, jobs, usersWithoutFaces, warnings };
}

export const readText = (path: string) => readFileSync(path, "utf8");
