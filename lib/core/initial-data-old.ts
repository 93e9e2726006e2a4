/**
 * The old system's initial-data document, exactly as its workers read `initial_db.json` (and the
 * body of `API_URL`), ARCHITECTURE §4:
 *
 *   { "companies":  { "<company>": {} },
 *     "users":      { "<company>": { "<user>": { "user_id": "<user>", "faces": ["<face>", ...] } } },
 *     "faces":      { "<company>": [ { "face_id": "<face>", "user_id": "<user>" } ] },
 *     "embeddings": { "<face>": [ 512 numbers ] } }
 *
 * Face ids are global keys of `embeddings`, so they are unique across companies there. Told apart from
 * facegate's own format (lists of records) by shape: a section that is a map means this format.
 * Validation never throws: each inconsistency is one issue line worded like the old workers' ("Face
 * face_006 has no embedding") and the record is skipped, or loaded where nothing is ambiguous.
 * Runtime-free.
 */
import { z } from "zod";
import { FaceError } from "./errors.ts";
import type { GalleryExport } from "./gallery.ts";
import { commonDimension, unitVector, type InitialDataCounts, type InitialDataReport, type ParseOptions } from "./initial-data-common.ts";
import { isOldSystemModel, undeclaredModelMessage } from "./initial-data-model.ts";
import { IdSchema } from "./schemas.ts";
import { profileFromFields, type UserProfile } from "./user-profile.ts";
import type { BulkLoad, FaceRecord } from "./store.ts";

const ModelId = z.string().min(1).max(200);
const Section = z.record(z.string(), z.unknown());

/** The document. Unknown top-level keys are ignored; `model`/`models` are facegate's (the old workers ignore them). */
export const OldInitialDataSchema = z.looseObject({
  /**
   * Model id of every embedding (facegate's export writes it). Absent in the old system's files: then
   * INITIAL_DATA_MODEL, else the old system's model (initial-data-model.ts), refused by any other engine.
   */
  model: ModelId.optional(),
  /** Model id per company, where companies differ. */
  models: z.record(z.string(), ModelId).optional(),
  companies: Section.default({}),
  users: Section.default({}),
  faces: Section.default({}),
  embeddings: Section.default({}),
});

const UserEntry = z.looseObject({
  user_id: z.union([z.string(), z.number()]).optional(),
  faces: z.array(z.union([z.string(), z.number()])).default([]),
});
const FaceEntry = z.looseObject({ face_id: z.union([z.string(), z.number()]), user_id: z.union([z.string(), z.number()]) });
/** null stands for Python's NaN / Infinity tokens (see parseInitialDataText). */
const Vector = z.array(z.number().nullable()).min(1).max(4096);

const SECTIONS = ["companies", "users", "faces", "embeddings"] as const;
/** A user entry's own fields; any other one is the person's name or metadata (user-profile.ts). */
const USER_FIELDS: ReadonlySet<string> = new Set(["user_id", "faces"]);

const isMap = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/** True when the document is in the old format: one of its sections is a map (facegate's are lists). */
export function isOldFormat(value: unknown): boolean {
  if (!isMap(value)) return false;
  const doc = value as Record<string, unknown>;
  return SECTIONS.some((s) => isMap(doc[s]));
}

/** The id as stored (NFC), or null when IdSchema refuses it. */
function normId(raw: string): string | null {
  const r = IdSchema.safeParse(raw);
  return r.success ? r.data : null;
}
const k2 = (a: string, b: string) => `${a}\u0000${b}`;

function zodText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; ");
}

/** Nothing loaded, one error. */
function failed(counts: InitialDataCounts, error: string): InitialDataReport {
  return {
    format: "old",
    data: { companies: [], users: [], faces: [] },
    model: null,
    dim: null,
    warnings: [],
    warningCount: 0,
    errors: [error],
    stats: { file: counts, loaded: { ...counts } },
  };
}

/** Parsed JSON in the old format → report (the same report as facegate's format). */
export function parseOldFormat(input: unknown, options: ParseOptions = {}): InitialDataReport {
  const counts = { companies: 0, users: 0, faces: 0, embeddings: 0 };
  const top = OldInitialDataSchema.safeParse(input);
  if (!top.success) return failed(counts, `not an initial-data document (old format): ${zodText(top.error)}`);
  const doc = top.data;
  const maxWarnings = options.maxWarnings ?? 1000;
  const warnings: string[] = [];
  let dropped = 0;
  const issue = (message: string) => {
    if (warnings.length < maxWarnings) warnings.push(message);
    else dropped++;
  };
  const file = {
    companies: Object.keys(doc.companies).length,
    users: 0,
    faces: 0,
    embeddings: Object.keys(doc.embeddings).length,
  };

  // companies
  const companies: string[] = [];
  for (const raw of Object.keys(doc.companies)) {
    const c = normId(raw);
    if (c !== null) companies.push(c);
    else issue(`Company ${JSON.stringify(raw)} has an invalid id (skipped)`);
  }
  const companySet = new Set(companies);

  // users: company → user → { user_id, faces }
  const users = new Map<string, { companyId: string; userId: string; listed: string[]; profile?: UserProfile }>();
  for (const [rawC, byUser] of Object.entries(doc.users)) {
    const c = normId(rawC) ?? rawC;
    if (!isMap(byUser)) {
      issue(`Users of company ${c} are not a map of user id to user (skipped)`);
      continue;
    }
    const entries = Object.entries(byUser as Record<string, unknown>);
    file.users += entries.length;
    if (!companySet.has(c)) {
      issue(`Company ${c} referenced in users does not exist (${entries.length} users skipped)`);
      continue;
    }
    for (const [rawU, raw] of entries) {
      const entry = UserEntry.safeParse(raw ?? {});
      const u = normId(rawU);
      if (u === null || !entry.success) {
        issue(`User ${JSON.stringify(rawU)} in company ${c} is invalid${entry.success ? " (id)" : `: ${zodText(entry.error)}`} (skipped)`);
        continue;
      }
      if (entry.data.user_id !== undefined && normId(String(entry.data.user_id)) !== u) {
        issue(`User ${u} in company ${c} has user_id ${String(entry.data.user_id)} (the key ${u} is used)`);
      }
      const profile = profileFromFields(entry.data, USER_FIELDS);
      users.set(k2(c, u), { companyId: c, userId: u, listed: entry.data.faces.map((f) => normId(String(f)) ?? String(f)), profile });
    }
  }

  // faces: company → [{ face_id, user_id }]; face ids are global
  const owner = new Map<string, { companyId: string; userId: string }>();
  /** user → the face ids the `faces` section gives it */
  const fromFaces = new Map<string, string[]>();
  for (const [rawC, list] of Object.entries(doc.faces)) {
    const c = normId(rawC) ?? rawC;
    if (!Array.isArray(list)) {
      issue(`Faces of company ${c} are not a list (skipped)`);
      continue;
    }
    file.faces += list.length;
    if (!companySet.has(c)) {
      issue(`Company ${c} referenced in faces does not exist (${list.length} faces skipped)`);
      continue;
    }
    list.forEach((raw, i) => {
      const entry = FaceEntry.safeParse(raw);
      if (!entry.success) return issue(`Face entry ${i} of company ${c} is invalid: ${zodText(entry.error)} (skipped)`);
      const f = normId(String(entry.data.face_id));
      const u = normId(String(entry.data.user_id)) ?? String(entry.data.user_id);
      if (f === null) return issue(`Face ${JSON.stringify(String(entry.data.face_id))} of company ${c} has an invalid id (skipped)`);
      if (!users.has(k2(c, u))) return issue(`Face ${f} references unknown user ${u} in company ${c} (skipped)`);
      const first = owner.get(f);
      if (first) {
        return issue(
          first.companyId === c && first.userId === u
            ? `Face ${f} is listed twice in company ${c}`
            : `Face ${f} is used by ${first.companyId}/${first.userId} and ${c}/${u}; face ids are unique (the second is skipped)`,
        );
      }
      owner.set(f, { companyId: c, userId: u });
      let list = fromFaces.get(k2(c, u));
      if (!list) fromFaces.set(k2(c, u), (list = []));
      list.push(f);
    });
  }
  // the users' own face lists: a face listed there but missing from `faces` still loads (nothing is ambiguous)
  for (const user of users.values()) {
    const listed = new Set(user.listed);
    for (const f of listed) {
      const o = owner.get(f);
      if (!o) {
        if (normId(f) === null) {
          issue(`Face ${JSON.stringify(f)} of user ${user.userId} has an invalid id (skipped)`);
          continue;
        }
        issue(`Face ${f} of user ${user.userId} is not in the faces of company ${user.companyId} (loaded)`);
        owner.set(f, { companyId: user.companyId, userId: user.userId });
      } else if (o.companyId !== user.companyId || o.userId !== user.userId) {
        issue(`Face ${f} is listed for user ${user.companyId}/${user.userId} but belongs to ${o.companyId}/${o.userId}`);
      }
    }
    for (const f of fromFaces.get(k2(user.companyId, user.userId)) ?? []) {
      if (!listed.has(f)) issue(`Face ${f} is not in the faces list of user ${user.userId} in company ${user.companyId} (loaded)`);
    }
  }

  // embeddings: face id → vector
  const vectors = new Map<string, ReadonlyArray<number | null>>();
  const present = new Set<string>();
  for (const [rawF, raw] of Object.entries(doc.embeddings)) {
    const f = normId(rawF) ?? rawF;
    present.add(f);
    const v = Vector.safeParse(raw);
    if (!v.success) {
      if (owner.has(f)) issue(`Face ${f} has an invalid embedding: ${zodText(v.error)} (skipped)`);
      else issue(`Embedding ${f} is invalid and belongs to no face`);
      continue;
    }
    vectors.set(f, v.data);
  }
  const dim = options.expectedDim ?? commonDimension([...vectors.values()].map((v) => v.length));
  const engine = options.engineModel;
  // undeclared: the old system's vectors, which only an engine running its recognizer may search
  const implied = engine === undefined ? undefined : isOldSystemModel(engine) ? engine : null;
  let undeclared = false;
  const modelOf = (companyId: string): string => {
    const declared = doc.models?.[companyId] ?? doc.model ?? options.declaredModel;
    if (declared !== undefined) return declared;
    undeclared = true;
    return implied ?? "unknown";
  };
  const faces: FaceRecord[] = [];
  const mismatched = new Set<string>();
  for (const [f, o] of owner) {
    const values = vectors.get(f);
    if (values === undefined) {
      if (!present.has(f)) issue(`Face ${f} has no embedding`);
      continue;
    }
    const unit = unitVector(values, dim);
    if (typeof unit === "string") {
      issue(`Face ${f} embedding ${unit} (skipped)`);
      continue;
    }
    const model = modelOf(o.companyId);
    if (undeclared && implied === null) {
      return { ...failed(counts, undeclaredModelMessage(engine!)), errorCode: "MODEL_MISMATCH", stats: { file, loaded: counts } };
    }
    if (options.engineModel && model !== options.engineModel && !mismatched.has(model)) {
      mismatched.add(model);
      issue(
        `Embeddings of model ${model} but the engine produces ${options.engineModel}: recognition in these companies ` +
          "fails with MODEL_MISMATCH until their users are re-enrolled",
      );
    }
    faces.push({ companyId: o.companyId, userId: o.userId, faceId: f, model, embedding: unit });
  }
  if (undeclared && engine === undefined) {
    issue(`The file names no embedding model: a server whose engine is not the old system's refuses it (set INITIAL_DATA_MODEL or "model")`);
  }
  for (const f of vectors.keys()) if (!owner.has(f)) issue(`Embedding ${f} belongs to no face (not loaded)`);
  const warningCount = warnings.length + dropped;
  if (dropped > 0) warnings.push(`... and ${dropped} more issues`);

  const data: BulkLoad = {
    companies,
    users: [...users.values()].map(({ companyId, userId, profile }) => (profile ? { companyId, userId, profile } : { companyId, userId })),
    faces,
  };
  const models = new Set(faces.map((f) => f.model));
  return {
    format: "old",
    data,
    model: models.size === 1 ? [...models][0]! : models.size > 1 ? "mixed" : (doc.model ?? null),
    dim,
    warnings,
    warningCount,
    errors: [],
    stats: {
      file,
      loaded: { companies: companies.length, users: data.users.length, faces: faces.length, embeddings: faces.length },
    },
  };
}

/**
 * Gallery contents → the old format. Lossless: companies without users and users without faces are
 * kept; the model id goes in `model` (or `models` per company where they differ), which the old
 * workers ignore. The old format keys embeddings by face id alone, so face ids used by two faces
 * cannot be written: INVALID_ARGUMENT naming them (export facegate's format instead).
 */
export function exportOldFormat(data: GalleryExport | BulkLoad): Record<string, unknown> {
  const owners = new Map<string, string>();
  const clashes: string[] = [];
  for (const f of data.faces) {
    const who = `${f.companyId}/${f.userId}`;
    const first = owners.get(f.faceId);
    if (first !== undefined) clashes.push(`${JSON.stringify(f.faceId)} (${first} and ${who})`);
    else owners.set(f.faceId, who);
  }
  if (clashes.length > 0) {
    throw new FaceError(
      "INVALID_ARGUMENT",
      `the old format keys embeddings by face id, and ${clashes.length} face ids are used more than once: ` +
        `${clashes.slice(0, 5).join(", ")}${clashes.length > 5 ? ", ..." : ""}; export facegate's format instead`,
      { details: { clashes: clashes.slice(0, 100) } },
    );
  }
  const companies: Record<string, Record<string, never>> = {};
  const users: Record<string, Record<string, Record<string, unknown> & { user_id: string; faces: string[] }>> = {};
  const faces: Record<string, Array<{ face_id: string; user_id: string }>> = {};
  const embeddings: Record<string, number[]> = {};
  for (const c of data.companies) companies[c] = {};
  // the profile goes back as the entry's extra fields, where the old system kept them
  for (const u of data.users) (users[u.companyId] ??= {})[u.userId] = { ...u.profile?.metadata, ...(u.profile?.name !== undefined ? { name: u.profile.name } : {}), user_id: u.userId, faces: [] };
  const modelOf = new Map<string, string>();
  for (const f of data.faces) {
    users[f.companyId]?.[f.userId]?.faces.push(f.faceId);
    (faces[f.companyId] ??= []).push({ face_id: f.faceId, user_id: f.userId });
    embeddings[f.faceId] = Array.from(f.embedding);
    if (!modelOf.has(f.companyId)) modelOf.set(f.companyId, f.model);
  }
  const models = new Set(modelOf.values());
  const model = models.size === 1 ? { model: [...models][0] } : models.size > 1 ? { models: Object.fromEntries(modelOf) } : {};
  return { ...model, companies, users, faces, embeddings };
}
