/**
 * The old system's initial_db.json (maps keyed by id, embeddings keyed by face id): it loads, its
 * inconsistencies are the old workers' issue lines, the log lines are theirs, and the export in that
 * format round-trips losslessly.
 */
import { describe, expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/errors.ts";
import { Gallery } from "../../../lib/core/gallery.ts";
import { exportInitialData, initialDataLogLines, parseInitialData, parseInitialDataText } from "../../../lib/core/initial-data.ts";
import { isOldFormat } from "../../../lib/core/initial-data-old.ts";
import type { BulkLoad } from "../../../lib/core/store.ts";
import { oldDocument, validDocument, vec } from "../../helpers/initial-data.ts";

/** INITIAL_DATA_MODEL naming the engine's model: the old files name none (refused without it, tested below). */
const ENGINE = { expectedDim: 512, engineModel: "fr_feature@87aacdfe", declaredModel: "fr_feature@87aacdfe" };

function galleryOf(data: BulkLoad): Gallery {
  const g = new Gallery();
  let rev = 0;
  for (const c of data.companies) g.apply({ revision: ++rev, type: "company.put", companyId: c });
  for (const u of data.users) g.apply({ revision: ++rev, type: "user.put", ...u });
  for (const f of data.faces) g.apply({ revision: ++rev, type: "face.put", face: f });
  return g;
}

describe("the old system's initial-data format", () => {
  test("shape decides the format: maps are the old one, lists facegate's", () => {
    expect(isOldFormat(oldDocument())).toBe(true);
    expect(isOldFormat({ companies: { a: {} } })).toBe(true);
    expect(isOldFormat(validDocument())).toBe(false);
    expect(isOldFormat({})).toBe(false);
    expect(parseInitialData(oldDocument(), ENGINE).format).toBe("old");
    expect(parseInitialData(validDocument(), ENGINE).format).toBe("facegate");
  });

  test("a consistent document loads completely: companies, users (with and without faces), faces with the engine's model", () => {
    const r = parseInitialData(oldDocument(), ENGINE);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.data.companies).toEqual(["company_123", "company_456", "company_789"]);
    expect(r.data.users).toEqual([
      { companyId: "company_123", userId: "user_001" },
      { companyId: "company_123", userId: "user_002" },
      { companyId: "company_456", userId: "user_003" },
    ]);
    expect(r.data.faces.map((f) => [f.companyId, f.userId, f.faceId, f.model])).toEqual([
      ["company_123", "user_001", "face_001", "fr_feature@87aacdfe"],
      ["company_123", "user_001", "face_002", "fr_feature@87aacdfe"],
      ["company_456", "user_003", "face_004", "fr_feature@87aacdfe"],
    ]);
    expect(Math.hypot(...r.data.faces[0]!.embedding)).toBeCloseTo(1, 5);
    expect(r.stats.loaded).toEqual({ companies: 3, users: 3, faces: 3, embeddings: 3 });
    expect(r.stats.file).toEqual({ companies: 3, users: 3, faces: 3, embeddings: 3 });
  });

  test("the documented example (a face listed only under its user) loads, with an issue line", () => {
    // the reference's own example: face_003 and face_005 are in users but not in faces
    const doc = {
      companies: { company_123: {}, company_456: {} },
      users: {
        company_123: {
          user_001: { user_id: "user_001", faces: ["face_001", "face_002"] },
          user_002: { user_id: "user_002", faces: ["face_003"] },
        },
        company_456: { user_003: { user_id: "user_003", faces: ["face_004", "face_005"] } },
      },
      faces: {
        company_123: [
          { face_id: "face_001", user_id: "user_001" },
          { face_id: "face_002", user_id: "user_001" },
        ],
        company_456: [{ face_id: "face_004", user_id: "user_003" }],
      },
      embeddings: { face_001: vec(1), face_002: vec(2), face_003: vec(3), face_004: vec(4), face_005: vec(5) },
    };
    const r = parseInitialData(doc, ENGINE);
    expect(r.stats.loaded).toEqual({ companies: 2, users: 3, faces: 5, embeddings: 5 });
    expect(r.warnings).toEqual([
      "Face face_003 of user user_002 is not in the faces of company company_123 (loaded)",
      "Face face_005 of user user_003 is not in the faces of company company_456 (loaded)",
    ]);
  });

  test("every inconsistency is one issue line in the old workers' words; the rest loads", () => {
    const doc = oldDocument() as ReturnType<typeof oldDocument> & Record<string, any>;
    doc.users.company_123.user_001.faces.push("face_006");
    doc.faces.company_123.push({ face_id: "face_006", user_id: "user_001" }); // no embedding
    doc.users.ghost = { u: { user_id: "u", faces: [] } }; // unknown company
    doc.faces.company_456.push({ face_id: "face_007", user_id: "nobody" }); // unknown user
    doc.faces.company_789 = [{ face_id: "face_001", user_id: "x" }]; // (x unknown) ...
    doc.users.company_789 = { x: { user_id: "y", faces: [] } }; // user_id differs from its key
    doc.users.company_456.user_003.faces.push("face_008");
    doc.faces.company_456.push({ face_id: "face_008", user_id: "user_003" });
    doc.embeddings.face_008 = vec(8, 128); // wrong dimension
    doc.users.company_456.user_003.faces.push("face_009");
    doc.faces.company_456.push({ face_id: "face_009", user_id: "user_003" });
    doc.embeddings.face_009 = [...vec(9).slice(0, 17), null, ...vec(9).slice(18)] as number[]; // NaN from Python
    doc.embeddings.face_999 = vec(999); // belongs to no face
    const r = parseInitialData(JSON.parse(JSON.stringify(doc)), ENGINE);
    expect(r.errors).toEqual([]);
    const w = r.warnings;
    expect(w).toContain("Face face_006 has no embedding");
    expect(w).toContain("Company ghost referenced in users does not exist (1 users skipped)");
    expect(w).toContain("Face face_007 references unknown user nobody in company company_456 (skipped)");
    expect(w).toContain("User x in company company_789 has user_id y (the key x is used)");
    expect(w).toContain("Face face_001 is used by company_123/user_001 and company_789/x; face ids are unique (the second is skipped)");
    expect(w).toContain("Face face_008 embedding has dimension 128, expected 512 (skipped)");
    expect(w).toContain("Face face_009 embedding has a non-finite value at index 17 (skipped)");
    expect(w).toContain("Embedding face_999 belongs to no face (not loaded)");
    expect(r.warningCount).toBe(w.length);
    // what is consistent still loads
    expect(r.data.faces.map((f) => f.faceId)).toEqual(["face_001", "face_002", "face_004"]);
    expect(r.data.users).toContainEqual({ companyId: "company_789", userId: "x" });
    // and the log lines say so the old way
    const lines = initialDataLogLines(r);
    expect(lines).toContainEqual({ level: "warn", message: `Data consistency issues found: ${w.length}` });
    expect(lines).toContainEqual({ level: "warn", message: "  - Face face_006 has no embedding" });
    expect(lines.some((l) => l.message === "Data consistency validation passed")).toBe(false);
  });

  test("Python's NaN tokens in the text are issues, not a broken file; a section of the wrong kind is an error", () => {
    const text = JSON.stringify(oldDocument()).replace(/"face_004":\[[^,]+,/, '"face_004":[NaN,');
    const r = parseInitialDataText(text, ENGINE);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual(["Face face_004 embedding has a non-finite value at index 0 (skipped)"]);
    const bad = parseInitialData({ companies: { a: {} }, users: [] }, ENGINE);
    expect(bad.errors[0]).toMatch(/^not an initial-data document \(old format\): users/);
    expect(bad.data.companies).toEqual([]);
  });

  test("the old workers' log lines, in their order, with the statistics block", () => {
    const lines = initialDataLogLines(parseInitialData(oldDocument(), ENGINE)).map((l) => l.message);
    expect(lines.slice(0, 9)).toEqual([
      "Loaded 3 companies",
      "Loaded 3 users across 2 companies",
      "Loaded 3 faces across 2 companies",
      "Loaded 3 embeddings",
      "Data consistency validation passed",
      "=".repeat(60),
      "Initial Data Statistics:",
      "  Companies: 3",
      "  Total Users: 3",
    ]);
    expect(lines.slice(9, 11)).toEqual(["  Total Faces: 3", "  Total Embeddings: 3"]);
    expect(lines.at(-1)).toBe("=".repeat(60));
  });

  test("export in the old format → parse: the same gallery (empty company, user without faces and model kept)", () => {
    const r = parseInitialData(oldDocument(), ENGINE);
    const g = galleryOf(r.data);
    const exported = exportInitialData(g.export(), { format: "old" });
    expect(Object.keys(exported).sort()).toEqual(["companies", "embeddings", "faces", "model", "users"]);
    expect(exported.users).toEqual({
      company_123: { user_001: { user_id: "user_001", faces: ["face_001", "face_002"] }, user_002: { user_id: "user_002", faces: [] } },
      company_456: { user_003: { user_id: "user_003", faces: ["face_004"] } },
    });
    expect(exported.faces).toEqual(oldDocument().faces);
    const again = parseInitialData(JSON.parse(JSON.stringify(exported)), { expectedDim: 512, engineModel: "another-engine" });
    expect(again.format).toBe("old");
    expect(again.data.faces.every((f) => f.model === "fr_feature@87aacdfe")).toBe(true);
    expect(galleryOf(again.data).export()).toEqual(g.export());
  });

  test("naming no model, its vectors are the old system's: refused (MODEL_MISMATCH, the three ways out) by another engine, nothing loaded", () => {
    const r = parseInitialData(oldDocument(), { expectedDim: 512, engineModel: "fr_feature@87aacdfe" });
    expect(r.errorCode).toBe("MODEL_MISMATCH");
    expect(r.data).toEqual({ companies: [], users: [], faces: [] });
    expect(r.errors).toHaveLength(1);
    const [message] = r.errors;
    expect(message).toContain("this engine produces fr_feature@87aacdfe");
    // the three ways out: the old model files, re-enrolling from photos, declaring the model
    expect(message).toContain("INSIGHTFACE_DETECTOR=<buffalo_l>/det_10g.onnx INSIGHTFACE_RECOGNIZER=<buffalo_l>/w600k_r50.onnx");
    expect(message).toContain("bun run facegate migrate <initial_db.json> <photos folder>");
    expect(message).toContain("INITIAL_DATA_MODEL=<model id>");
  });

  test("naming no model: the InsightFace engine running the old recognizer loads it as its own model", () => {
    const r = parseInitialData(oldDocument(), { expectedDim: 512, engineModel: "w600k_r50@4c06341c" });
    expect(r.errors).toEqual([]);
    expect(r.data.faces.map((f) => f.model)).toEqual(["w600k_r50@4c06341c", "w600k_r50@4c06341c", "w600k_r50@4c06341c"]);
    // a recognizer file by another name is not taken for it
    expect(parseInitialData(oldDocument(), { expectedDim: 512, engineModel: "w600k_mbf@1a2b3c4d" }).errorCode).toBe("MODEL_MISMATCH");
  });

  test("a declared model (INITIAL_DATA_MODEL, the file's model or models) is kept; one that is not the engine's loads with a warning and is never searched", () => {
    const declared = parseInitialData(oldDocument(), { expectedDim: 512, engineModel: "fr_feature@87aacdfe", declaredModel: "w600k_r50@4c06341c" });
    expect(declared.errors).toEqual([]);
    expect(new Set(declared.data.faces.map((f) => f.model))).toEqual(new Set(["w600k_r50@4c06341c"]));
    expect(declared.warnings.some((w) => w.includes("MODEL_MISMATCH"))).toBe(true);
    const g = galleryOf(declared.data);
    expect(() => g.search("company_123", vec(1), { model: "fr_feature@87aacdfe" })).toThrow(
      expect.objectContaining({ code: "MODEL_MISMATCH" }) as unknown as Error,
    );
    // the file's own declaration wins over INITIAL_DATA_MODEL
    const own = parseInitialData({ ...oldDocument(), model: "fr_feature@87aacdfe" }, { ...ENGINE, declaredModel: "other@1" });
    expect(new Set(own.data.faces.map((f) => f.model))).toEqual(new Set(["fr_feature@87aacdfe"]));
    // per company: an undeclared company of a file that declares others is refused as well
    const partly = parseInitialData({ ...oldDocument(), models: { company_123: "fr_feature@87aacdfe" } }, { expectedDim: 512, engineModel: "fr_feature@87aacdfe" });
    expect(partly.errorCode).toBe("MODEL_MISMATCH");
  });

  test("without an engine to compare with (check-data), an undeclared file is one issue line", () => {
    const r = parseInitialData(oldDocument(), { expectedDim: 512 });
    expect(r.errors).toEqual([]);
    expect(r.warnings.some((w) => w.startsWith("The file names no embedding model"))).toBe(true);
  });

  test("the old format cannot hold one face id for two faces: the export refuses and says what to do", () => {
    const data: BulkLoad = {
      companies: ["a"],
      users: [
        { companyId: "a", userId: "ann" },
        { companyId: "a", userId: "bob" },
      ],
      faces: [
        { companyId: "a", userId: "ann", faceId: "f1", model: "m", embedding: Float32Array.from(vec(1, 4)) },
        { companyId: "a", userId: "bob", faceId: "f1", model: "m", embedding: Float32Array.from(vec(2, 4)) },
      ],
    };
    let error: unknown;
    try {
      exportInitialData(data, { format: "old" });
    } catch (e) {
      error = e;
    }
    expect(FaceError.is(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toContain('"f1" (a/ann and a/bob)');
    expect((error as Error).message).toContain("export facegate's format instead");
    // facegate's own format holds it
    expect(parseInitialData(JSON.parse(JSON.stringify(exportInitialData(data))), { expectedDim: 4 }).data.faces.length).toBe(2);
  });
});
