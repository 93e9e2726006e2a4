/**
 * The initial-data format of the old system (companies / users / faces / embeddings), its validation
 * and its export. Runtime-free: reading files and calling APIs lives in lib/service.
 *
 * Validation never throws for a bad record: each inconsistency becomes a warning that names it and the
 * record is skipped (or, for an embedding without a face entry, loaded). Only a file that cannot be
 * read as this format at all (invalid JSON, not an object, a section that is not a list) is an error.
 * The rules are listed in docs/core.md.
 */
import { z } from "zod";
import type { GalleryExport } from "./gallery.ts";
import { IdSchema } from "./schemas.ts";
import type { BulkLoad, FaceRecord } from "./store.ts";

export const INITIAL_DATA_FORMAT = "facegate-initial-data";

const Id = z.union([IdSchema, z.number().int().transform(String)]);
const Meta = { created_at: z.string().optional() };

export const CompanyEntrySchema = z.union([Id, z.looseObject({ company_id: Id, ...Meta })]);
export const UserEntrySchema = z.looseObject({ company_id: Id, user_id: Id, ...Meta });
export const FaceEntrySchema = z.looseObject({ company_id: Id, user_id: Id, face_id: Id, ...Meta });
export const EmbeddingEntrySchema = z.looseObject({
  company_id: Id,
  user_id: Id,
  face_id: Id,
  /** null stands for NaN/Infinity written by Python's json module (see parseInitialDataText). */
  embedding: z.array(z.number().nullable()).min(1).max(4096),
  model: z.string().min(1).max(200).optional(),
});

/** The file: every section optional (missing = empty); unknown keys are ignored. */
export const InitialDataFileSchema = z.looseObject({
  format: z.string().optional(),
  version: z.number().optional(),
  /** Model id of the embeddings (EngineInfo.modelId); assumed to be the engine's when absent. */
  model: z.string().min(1).max(200).optional(),
  companies: z.array(z.unknown()).default([]),
  users: z.array(z.unknown()).default([]),
  faces: z.array(z.unknown()).default([]),
  embeddings: z.array(z.unknown()).default([]),
});
export type InitialDataFile = z.input<typeof InitialDataFileSchema>;

export interface InitialDataCounts {
  companies: number;
  users: number;
  faces: number;
  embeddings: number;
}

export interface InitialDataReport {
  /** What is loaded: valid, consistent records only. */
  data: BulkLoad;
  /** Model id the faces are stored with. */
  model: string | null;
  dim: number | null;
  warnings: string[];
  /** Fatal: nothing is loaded when there is one. */
  errors: string[];
  stats: { file: InitialDataCounts; loaded: InitialDataCounts };
}

export interface ParseOptions {
  /** The engine's embedding dimension (otherwise: the most common length in the file). */
  expectedDim?: number;
  /** The engine's model id: used when the file names none; a different one in the file is a warning. */
  engineModel?: string;
  /** At most this many warnings are listed (the rest are counted). */
  maxWarnings?: number;
}

const emptyCounts = (): InitialDataCounts => ({ companies: 0, users: 0, faces: 0, embeddings: 0 });

function emptyReport(errors: string[]): InitialDataReport {
  return {
    data: { companies: [], users: [], faces: [] },
    model: null,
    dim: null,
    warnings: [],
    errors,
    stats: { file: emptyCounts(), loaded: emptyCounts() },
  };
}

/**
 * JSON text → report. Python's json module writes NaN and Infinity as bare tokens (invalid JSON);
 * they are read as null so they show up as "non-finite values" warnings instead of failing the file.
 */
export function parseInitialDataText(text: string, options: ParseOptions = {}): InitialDataReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (first) {
    try {
      const patched = text.replace(/"(?:[^"\\]|\\.)*"|-?\bInfinity\b|\bNaN\b/g, (m) => (m.startsWith('"') ? m : "null"));
      value = JSON.parse(patched);
    } catch {
      return emptyReport([`invalid JSON: ${(first as Error).message}`]);
    }
  }
  return parseInitialData(value, options);
}

const idText = (...ids: string[]) => ids.map((i) => JSON.stringify(i)).join("/");
const k2 = (a: string, b: string) => `${a}\u0000${b}`;
const k3 = (a: string, b: string, c: string) => `${a}\u0000${b}\u0000${c}`;

function issueText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "entry"}: ${i.message}`).join("; ");
}

/** Parsed JSON → report (see the module comment and docs/core.md for the rules). */
export function parseInitialData(input: unknown, options: ParseOptions = {}): InitialDataReport {
  const top = InitialDataFileSchema.safeParse(input);
  if (!top.success) return emptyReport([`not an initial-data document: ${issueText(top.error)}`]);
  const file = top.data;
  const maxWarnings = options.maxWarnings ?? 1000;
  const warnings: string[] = [];
  let dropped = 0;
  const warn = (message: string) => {
    if (warnings.length < maxWarnings) warnings.push(message);
    else dropped++;
  };
  const stats = {
    file: { companies: file.companies.length, users: file.users.length, faces: file.faces.length, embeddings: file.embeddings.length },
    loaded: emptyCounts(),
  };

  // companies
  const companies = new Set<string>();
  file.companies.forEach((raw, i) => {
    const r = CompanyEntrySchema.safeParse(raw);
    if (!r.success) return warn(`companies[${i}]: invalid (${issueText(r.error)}); skipped`);
    const id = typeof r.data === "string" ? r.data : r.data.company_id;
    if (companies.has(id)) return warn(`companies[${i}]: duplicate company ${idText(id)}; skipped`);
    companies.add(id);
  });

  // users
  const users = new Map<string, { companyId: string; userId: string }>();
  file.users.forEach((raw, i) => {
    const r = UserEntrySchema.safeParse(raw);
    if (!r.success) return warn(`users[${i}]: invalid (${issueText(r.error)}); skipped`);
    const { company_id: c, user_id: u } = r.data;
    if (!companies.has(c)) return warn(`users[${i}]: user ${idText(c, u)} is in unknown company ${idText(c)}; skipped`);
    const k = k2(c, u);
    if (users.has(k)) return warn(`users[${i}]: duplicate user ${idText(c, u)}; skipped`);
    users.set(k, { companyId: c, userId: u });
  });

  // faces
  const faces = new Map<string, { companyId: string; userId: string; faceId: string; index: number }>();
  file.faces.forEach((raw, i) => {
    const r = FaceEntrySchema.safeParse(raw);
    if (!r.success) return warn(`faces[${i}]: invalid (${issueText(r.error)}); skipped`);
    const { company_id: c, user_id: u, face_id: f } = r.data;
    if (!companies.has(c)) return warn(`faces[${i}]: face ${idText(c, u, f)} is in unknown company ${idText(c)}; skipped`);
    if (!users.has(k2(c, u))) return warn(`faces[${i}]: face ${idText(c, u, f)} belongs to unknown user ${idText(c, u)}; skipped`);
    const k = k3(c, u, f);
    if (faces.has(k)) return warn(`faces[${i}]: duplicate face ${idText(c, u, f)}; skipped`);
    faces.set(k, { companyId: c, userId: u, faceId: f, index: i });
  });

  // embeddings: the dimension is the engine's, or the most common one in the file
  const parsed: Array<{ i: number; e: z.infer<typeof EmbeddingEntrySchema> }> = [];
  file.embeddings.forEach((raw, i) => {
    const r = EmbeddingEntrySchema.safeParse(raw);
    if (!r.success) return warn(`embeddings[${i}]: invalid (${issueText(r.error)}); skipped`);
    parsed.push({ i, e: r.data });
  });
  let dim = options.expectedDim ?? null;
  if (dim === null && parsed.length > 0) {
    const byLength = new Map<number, number>();
    for (const { e } of parsed) byLength.set(e.embedding.length, (byLength.get(e.embedding.length) ?? 0) + 1);
    dim = [...byLength.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
  }
  const fileModel = file.model ?? null;
  const model = fileModel ?? options.engineModel ?? "unknown";
  const modelOf = new Map<string, string>();
  const mismatched = new Set<string>();
  const loadedFaces: FaceRecord[] = [];
  const withEmbedding = new Set<string>();
  for (const { i, e } of parsed) {
    const { company_id: c, user_id: u, face_id: f } = e;
    const where = `embeddings[${i}] (${idText(c, u, f)})`;
    if (!companies.has(c)) {
      warn(`${where}: unknown company ${idText(c)}; skipped`);
      continue;
    }
    if (!users.has(k2(c, u))) {
      warn(`${where}: unknown user ${idText(c, u)}; skipped`);
      continue;
    }
    const k = k3(c, u, f);
    if (withEmbedding.has(k)) {
      warn(`${where}: duplicate embedding for the face; the first one is kept`);
      continue;
    }
    if (e.embedding.length !== dim) {
      warn(`${where}: wrong dimension ${e.embedding.length}, expected ${dim}; skipped`);
      continue;
    }
    const bad = e.embedding.findIndex((x) => x === null || !Number.isFinite(x));
    if (bad >= 0) {
      warn(`${where}: non-finite value at index ${bad}; skipped`);
      continue;
    }
    const values = e.embedding as number[];
    let norm = 0;
    for (const x of values) norm += x * x;
    if (!(norm > 0)) {
      warn(`${where}: zero vector; skipped`);
      continue;
    }
    const inv = 1 / Math.sqrt(norm);
    // one model per company (the gallery refuses mixing): the first embedding of a company fixes it
    const faceModel = e.model ?? model;
    const companyModel = modelOf.get(c);
    if (companyModel === undefined) modelOf.set(c, faceModel);
    else if (companyModel !== faceModel) {
      warn(`${where}: model ${JSON.stringify(faceModel)} differs from company ${idText(c)}'s ${JSON.stringify(companyModel)}; skipped`);
      continue;
    }
    if (options.engineModel && faceModel !== options.engineModel && !mismatched.has(faceModel)) {
      mismatched.add(faceModel);
      warn(
        `${where}: the embeddings are from model ${JSON.stringify(faceModel)} but the engine produces ${JSON.stringify(options.engineModel)}: ` +
          "recognition in these companies fails with MODEL_MISMATCH until their users are re-enrolled",
      );
    }
    if (!faces.has(k)) warn(`${where}: embedding without a face entry; loaded as face ${idText(f)}`);
    withEmbedding.add(k);
    loadedFaces.push({ companyId: c, userId: u, faceId: f, model: faceModel, embedding: Float32Array.from(values, (x) => x * inv) });
  }
  for (const face of faces.values()) {
    if (!withEmbedding.has(k3(face.companyId, face.userId, face.faceId))) {
      warn(`faces[${face.index}]: face ${idText(face.companyId, face.userId, face.faceId)} has no embedding; skipped`);
    }
  }
  if (dropped > 0) warnings.push(`... and ${dropped} more warnings`);

  const data: BulkLoad = { companies: [...companies], users: [...users.values()], faces: loadedFaces };
  stats.loaded = { companies: data.companies.length, users: data.users.length, faces: loadedFaces.length, embeddings: loadedFaces.length };
  return { data, model: loadedFaces.length > 0 ? model : fileModel, dim, warnings, errors: [], stats };
}

/** The statistics block logged at start and printed by check-data. */
export function formatInitialDataStats(report: InitialDataReport, source: string): string {
  const { file, loaded } = report.stats;
  const row = (name: keyof InitialDataCounts) => `  ${name.padEnd(11)} ${String(loaded[name]).padStart(8)} (${file[name]} in the source)`;
  return [
    `initial data from ${source}:`,
    row("companies"),
    row("users"),
    row("faces"),
    row("embeddings"),
    `  model       ${report.model ?? "-"}${report.dim ? ` (${report.dim}-d)` : ""}`,
    `  warnings    ${String(report.warnings.length).padStart(8)}`,
    `  errors      ${String(report.errors.length).padStart(8)}`,
  ].join("\n");
}

export interface ExportOptions {
  /** Written as `exported_at` (ISO 8601); default now. */
  exportedAt?: string;
}

/** Gallery contents → the same format (one model per file: the first face's; per-embedding `model` otherwise). */
export function exportInitialData(data: GalleryExport | BulkLoad, options: ExportOptions = {}): Record<string, unknown> {
  const model = data.faces[0]?.model;
  const companies = data.companies.map((c) => (typeof c === "string" ? c : String(c)));
  return {
    format: INITIAL_DATA_FORMAT,
    version: 1,
    ...(model ? { model } : {}),
    exported_at: options.exportedAt ?? new Date().toISOString(),
    companies: companies.map((company_id) => ({ company_id })),
    users: data.users.map((u) => ({ company_id: u.companyId, user_id: u.userId })),
    faces: data.faces.map((f) => ({ company_id: f.companyId, user_id: f.userId, face_id: f.faceId })),
    embeddings: data.faces.map((f) => ({
      company_id: f.companyId,
      user_id: f.userId,
      face_id: f.faceId,
      ...(f.model !== model ? { model: f.model } : {}),
      embedding: Array.from(f.embedding),
    })),
  };
}
