/**
 * Initial data: two formats, told apart by shape, validated into one report.
 * - The old system's `initial_db.json` (sections are maps keyed by id; embeddings keyed by face id):
 *   initial-data-old.ts.
 * - facegate's own (sections are lists of records, each naming its company/user/face; an optional
 *   `model`): this file. Face ids only need to be unique per user here.
 * Runtime-free: reading files and calling APIs lives in lib/service.
 *
 * Validation never throws for a bad record: each inconsistency becomes a warning that names it and the
 * record is skipped (or, where nothing is ambiguous, loaded). Only a document that cannot be read at all
 * (invalid JSON, not an object, a section of the wrong kind) is an error. The log lines are the old
 * workers' (initialDataLogLines); the rules are listed in docs/core.md.
 */
import { z } from "zod";
import type { GalleryExport } from "./gallery.ts";
import { commonDimension, unitVector, type InitialDataCounts, type InitialDataReport, type ParseOptions } from "./initial-data-common.ts";
import { exportOldFormat, isOldFormat, parseOldFormat } from "./initial-data-old.ts";
import { IdSchema } from "./schemas.ts";
import { compactProfile, UserProfileSchema, type UserProfile } from "./user-profile.ts";
import type { BulkLoad, FaceRecord } from "./store.ts";

export { exportOldFormat, isOldFormat, OldInitialDataSchema } from "./initial-data-old.ts";
export type { InitialDataCounts, InitialDataReport, ParseOptions } from "./initial-data-common.ts";

export const INITIAL_DATA_FORMAT = "facegate-initial-data";

const Id = z.union([IdSchema, z.number().int().transform(String)]);
const Meta = { created_at: z.string().optional() };

export const CompanyEntrySchema = z.union([Id, z.looseObject({ company_id: Id, ...Meta })]);
export const UserEntrySchema = z.looseObject({ company_id: Id, user_id: Id, name: z.unknown().optional(), metadata: z.unknown().optional(), ...Meta });
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

const emptyCounts = (): InitialDataCounts => ({ companies: 0, users: 0, faces: 0, embeddings: 0 });

function emptyReport(errors: string[]): InitialDataReport {
  return {
    format: "facegate",
    data: { companies: [], users: [], faces: [] },
    model: null,
    dim: null,
    warnings: [],
    warningCount: 0,
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

/** Parsed JSON (either format) → report (see the module comment and docs/core.md for the rules). */
export function parseInitialData(input: unknown, options: ParseOptions = {}): InitialDataReport {
  return isOldFormat(input) ? parseOldFormat(input, options) : parseOwnFormat(input, options);
}

function parseOwnFormat(input: unknown, options: ParseOptions): InitialDataReport {
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
  const users = new Map<string, { companyId: string; userId: string; profile?: UserProfile }>();
  file.users.forEach((raw, i) => {
    const r = UserEntrySchema.safeParse(raw);
    if (!r.success) return warn(`users[${i}]: invalid (${issueText(r.error)}); skipped`);
    const { company_id: c, user_id: u } = r.data;
    if (!companies.has(c)) return warn(`users[${i}]: user ${idText(c, u)} is in unknown company ${idText(c)}; skipped`);
    const k = k2(c, u);
    if (users.has(k)) return warn(`users[${i}]: duplicate user ${idText(c, u)}; skipped`);
    // a bad name or metadata is left out (warned); the person still loads
    const profile = UserProfileSchema.safeParse({ name: r.data.name ?? undefined, metadata: r.data.metadata ?? undefined });
    if (!profile.success) warn(`users[${i}]: name or metadata of ${idText(c, u)} invalid (${issueText(profile.error)}); left out`);
    const kept = profile.success ? compactProfile(profile.data) : undefined;
    users.set(k, kept ? { companyId: c, userId: u, profile: kept } : { companyId: c, userId: u });
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
  const dim = options.expectedDim ?? commonDimension(parsed.map(({ e }) => e.embedding.length));
  const fileModel = file.model ?? null;
  const model = fileModel ?? options.declaredModel ?? options.engineModel ?? "unknown";
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
    // one model per company (the gallery refuses mixing): the first embedding of a company fixes it
    const faceModel = e.model ?? model;
    // a model the engine also serves (one of its fused models: an old gallery) has its own dimension
    const faceDim = options.servedModels?.find((m) => m.model === faceModel)?.dim ?? dim;
    if (e.embedding.length !== faceDim) {
      warn(`${where}: wrong dimension ${e.embedding.length}, expected ${faceDim}; skipped`);
      continue;
    }
    const unit = unitVector(e.embedding, faceDim);
    if (typeof unit === "string") {
      // "has a non-finite value at index 17" → "non-finite value at index 17"
      warn(`${where}: ${unit.replace(/^(has a |is a )/, "")}; skipped`);
      continue;
    }
    const companyModel = modelOf.get(c);
    if (companyModel === undefined) modelOf.set(c, faceModel);
    else if (companyModel !== faceModel) {
      warn(`${where}: model ${JSON.stringify(faceModel)} differs from company ${idText(c)}'s ${JSON.stringify(companyModel)}; skipped`);
      continue;
    }
    const served = faceModel === options.engineModel || options.servedModels?.some((m) => m.model === faceModel);
    if (options.engineModel && !served && !mismatched.has(faceModel)) {
      mismatched.add(faceModel);
      warn(
        `${where}: the embeddings are from model ${JSON.stringify(faceModel)} but the engine produces ${JSON.stringify(options.engineModel)}: ` +
          "recognition in these companies fails with MODEL_MISMATCH until their users are re-enrolled",
      );
    }
    if (!faces.has(k)) warn(`${where}: embedding without a face entry; loaded as face ${idText(f)}`);
    withEmbedding.add(k);
    loadedFaces.push({ companyId: c, userId: u, faceId: f, model: faceModel, embedding: unit });
  }
  for (const face of faces.values()) {
    if (!withEmbedding.has(k3(face.companyId, face.userId, face.faceId))) {
      warn(`faces[${face.index}]: face ${idText(face.companyId, face.userId, face.faceId)} has no embedding; skipped`);
    }
  }
  const warningCount = warnings.length + dropped;
  if (dropped > 0) warnings.push(`... and ${dropped} more warnings`);

  const data: BulkLoad = { companies: [...companies], users: [...users.values()], faces: loadedFaces };
  stats.loaded = { companies: data.companies.length, users: data.users.length, faces: loadedFaces.length, embeddings: loadedFaces.length };
  return { format: "facegate", data, model: loadedFaces.length > 0 ? model : fileModel, dim, warnings, warningCount, errors: [], stats };
}

export interface InitialDataLogLine {
  level: "info" | "warn";
  message: string;
}

const RULE = "=".repeat(60);

/**
 * What the old workers logged after reading their initial data, in their words (operators grep for
 * them): the counts loaded per kind, "Data consistency validation passed" or "Data consistency issues
 * found: N" with one "  - ..." line per issue, then the "Initial Data Statistics:" block.
 */
export function initialDataLogLines(report: InitialDataReport): InitialDataLogLine[] {
  const { loaded } = report.stats;
  const across = (items: Array<{ companyId: string }>) => new Set(items.map((i) => i.companyId)).size;
  const info = (message: string): InitialDataLogLine => ({ level: "info", message });
  const lines: InitialDataLogLine[] = [
    info(`Loaded ${loaded.companies} companies`),
    info(`Loaded ${loaded.users} users across ${across(report.data.users)} companies`),
    info(`Loaded ${loaded.faces} faces across ${across(report.data.faces)} companies`),
    info(`Loaded ${loaded.embeddings} embeddings`),
  ];
  if (report.warningCount === 0) lines.push(info("Data consistency validation passed"));
  else {
    lines.push({ level: "warn", message: `Data consistency issues found: ${report.warningCount}` });
    for (const w of report.warnings) lines.push({ level: "warn", message: `  - ${w}` });
  }
  lines.push(...formatStatistics(report).map(info));
  return lines;
}

function formatStatistics(report: InitialDataReport): string[] {
  const { file, loaded } = report.stats;
  return [
    RULE,
    "Initial Data Statistics:",
    `  Companies: ${loaded.companies}`,
    `  Total Users: ${loaded.users}`,
    `  Total Faces: ${loaded.faces}`,
    `  Total Embeddings: ${loaded.embeddings}`,
    `  Format: ${report.format === "old" ? "old system (maps keyed by id)" : "facegate (lists of records)"}; ` +
      `in the source: ${file.companies} companies, ${file.users} users, ${file.faces} faces, ${file.embeddings} embeddings`,
    `  Model: ${report.model ?? "-"}${report.dim ? ` (${report.dim}-d)` : ""}`,
    RULE,
  ];
}

/** The statistics block alone, after a line naming the source (the CLI's import prints it). */
export function formatInitialDataStats(report: InitialDataReport, source: string): string {
  return [`Initial data from ${source}:`, ...formatStatistics(report)].join("\n");
}

export interface ExportOptions {
  /** Written as `exported_at` (ISO 8601); default now. facegate's format only. */
  exportedAt?: string;
  /**
   * "facegate" (default: lists of records, any ids) or "old" (the old system's maps: what its
   * workers load; INVALID_ARGUMENT when a face id is used by two faces, see exportOldFormat).
   */
  format?: "facegate" | "old";
}

/**
 * Gallery contents → initial data that loads back to the same gallery. facegate's format: one model
 * per file (the first face's), a per-embedding `model` where it differs.
 */
export function exportInitialData(data: GalleryExport | BulkLoad, options: ExportOptions = {}): Record<string, unknown> {
  if (options.format === "old") return exportOldFormat(data);
  const model = data.faces[0]?.model;
  const companies = data.companies.map((c) => (typeof c === "string" ? c : String(c)));
  return {
    format: INITIAL_DATA_FORMAT,
    version: 1,
    ...(model ? { model } : {}),
    exported_at: options.exportedAt ?? new Date().toISOString(),
    companies: companies.map((company_id) => ({ company_id })),
    users: data.users.map((u) => ({
      company_id: u.companyId,
      user_id: u.userId,
      ...(u.profile?.name !== undefined ? { name: u.profile.name } : {}),
      ...(u.profile?.metadata !== undefined ? { metadata: u.profile.metadata } : {}),
    })),
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
