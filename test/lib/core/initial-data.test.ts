import { describe, expect, test } from "bun:test";
import { Gallery } from "../../../lib/core/gallery.ts";
import {
  exportInitialData,
  formatInitialDataStats,
  parseInitialData,
  parseInitialDataText,
} from "../../../lib/core/initial-data.ts";
import { validDocument, vec } from "../../helpers/initial-data.ts";

describe("initial data: parse and validate", () => {
  test("a valid document loads completely, without warnings; embeddings are normalised", () => {
    const r = parseInitialData(validDocument(), { expectedDim: 512, engineModel: "fr_feature@87aacdfe" });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.stats.loaded).toEqual({ companies: 2, users: 3, faces: 3, embeddings: 3 });
    expect(r.stats.file).toEqual({ companies: 2, users: 3, faces: 3, embeddings: 3 });
    expect(r.data.companies).toEqual(["acme", "beta"]);
    expect(r.data.faces[0].model).toBe("fr_feature@87aacdfe");
    expect(Math.hypot(...r.data.faces[0].embedding)).toBeCloseTo(1, 5);
    expect(r.dim).toBe(512);
    const block = formatInitialDataStats(r, "LOCAL_FILE x.json");
    for (const line of ["Initial Data Statistics:", "  Companies: 2", "  Total Users: 3", "  Total Faces: 3", "  Total Embeddings: 3"]) {
      expect(block.split("\n")).toContain(line);
    }
  });

  test("every inconsistency is a warning naming the record; the rest loads", () => {
    const doc = validDocument() as {
      companies: unknown[];
      users: unknown[];
      faces: unknown[];
      embeddings: Array<Record<string, unknown>>;
    };
    doc.companies.push("acme"); // duplicate
    doc.companies.push({ company_id: "" }); // invalid id
    doc.users.push({ company_id: "ghost-co", user_id: "dave" }); // unknown company
    doc.users.push({ company_id: "acme", user_id: "bob" }); // duplicate
    doc.faces.push({ company_id: "acme", user_id: "bob", face_id: "b1" }); // no embedding
    doc.faces.push({ company_id: "acme", user_id: "nobody", face_id: "n1" }); // unknown user
    doc.embeddings.push({ company_id: "beta", user_id: "carol", face_id: "c2", embedding: vec(4) }); // no face entry: loaded
    doc.embeddings.push({ company_id: "acme", user_id: "alice", face_id: "a3", embedding: vec(5, 128) }); // wrong dimension
    const nan = vec(6);
    (nan as Array<number | null>)[17] = null;
    doc.embeddings.push({ company_id: "acme", user_id: "bob", face_id: "b2", embedding: nan }); // non-finite (NaN read as null)
    doc.embeddings.push({ company_id: "acme", user_id: "alice", face_id: "a1", embedding: vec(7) }); // duplicate embedding
    doc.embeddings.push({ company_id: "nope", user_id: "x", face_id: "y", embedding: vec(8) }); // unknown company
    doc.embeddings.push({ company_id: "acme", user_id: "bob", face_id: "z", embedding: new Array(512).fill(0) }); // zero
    const r = parseInitialData(doc, { expectedDim: 512 });
    expect(r.errors).toEqual([]);
    const w = r.warnings.join("\n");
    expect(w).toMatch(/companies\[2\]: duplicate company "acme"/);
    expect(w).toMatch(/companies\[3\]: invalid/);
    expect(w).toMatch(/users\[3\]: user "ghost-co"\/"dave" is in unknown company "ghost-co"/);
    expect(w).toMatch(/users\[4\]: duplicate user "acme"\/"bob"/);
    expect(w).toMatch(/faces\[3\]: face "acme"\/"bob"\/"b1" has no embedding/);
    expect(w).toMatch(/faces\[4\]: face "acme"\/"nobody"\/"n1" belongs to unknown user/);
    expect(w).toMatch(/embeddings\[3\] \("beta"\/"carol"\/"c2"\): embedding without a face entry; loaded/);
    expect(w).toMatch(/embeddings\[4\].*wrong dimension 128, expected 512/);
    expect(w).toMatch(/embeddings\[5\].*non-finite value at index 17/);
    expect(w).toMatch(/embeddings\[6\].*duplicate embedding/);
    expect(w).toMatch(/embeddings\[7\].*unknown company "nope"/);
    expect(w).toMatch(/embeddings\[8\].*zero vector/);
    expect(r.warnings.length).toBe(12);
    expect(r.stats.loaded).toEqual({ companies: 2, users: 3, faces: 4, embeddings: 4 });
    expect(r.data.faces.map((f) => f.faceId).sort()).toEqual(["a1", "a2", "c1", "c2"]);
  });

  test("Python's NaN / Infinity tokens become non-finite warnings, not a broken file", () => {
    const text = JSON.stringify(validDocument()).replace(/(\"embedding\":\[)[^,]+/, "$1NaN").replace('"face_id":"a2","embedding":[', '"face_id":"a2","embedding":[-Infinity,');
    const r = parseInitialDataText(text, { expectedDim: 512 });
    expect(r.errors).toEqual([]);
    expect(r.warnings.some((x) => x.includes("non-finite value at index 0"))).toBe(true);
    expect(r.warnings.some((x) => x.includes("wrong dimension 513"))).toBe(true);
    // a string containing NaN is left alone
    const s = parseInitialDataText('{"companies": ["NaN inc"]}');
    expect(s.data.companies).toEqual(["NaN inc"]);
  });

  test("ids as plain strings or integers; metadata and unknown keys are accepted", () => {
    const r = parseInitialData({
      companies: ["c1", 7],
      users: [{ company_id: 7, user_id: 42, department: "x" }],
      faces: [],
      embeddings: [{ company_id: "7", user_id: "42", face_id: 1, embedding: [1, 0, 0] }],
      exported_by: "legacy",
    });
    expect(r.data.companies).toEqual(["c1", "7"]);
    expect(r.data.users).toEqual([{ companyId: "7", userId: "42" }]);
    expect(r.data.faces[0].faceId).toBe("1");
    expect(r.dim).toBe(3); // no engine dimension given: the most common one
  });

  test("invalid JSON and documents of the wrong shape are errors; nothing loads", () => {
    const bad = parseInitialDataText("{ not json");
    expect(bad.errors[0]).toMatch(/invalid JSON/);
    expect(bad.stats.loaded.companies).toBe(0);
    expect(parseInitialData([1, 2]).errors[0]).toMatch(/not an initial-data document/);
    expect(parseInitialData({ companies: "acme" }).errors[0]).toMatch(/companies/);
    // an empty object is a valid, empty document
    expect(parseInitialData({}).errors).toEqual([]);
  });

  test("a different model than the engine's is a warning; one model per company", () => {
    const doc = validDocument() as { model: string; embeddings: Array<Record<string, unknown>> };
    doc.model = "insightface-buffalo_l";
    doc.embeddings[1].model = "other-model";
    const r = parseInitialData(doc, { expectedDim: 512, engineModel: "fr_feature@87aacdfe" });
    expect(r.warnings.some((w) => w.includes("MODEL_MISMATCH"))).toBe(true);
    expect(r.warnings.some((w) => w.includes('model "other-model" differs from company "acme"'))).toBe(true);
    expect(r.data.faces.every((f) => f.model === "insightface-buffalo_l")).toBe(true);
  });

  test("export writes the same format; export → parse round-trips", () => {
    const r = parseInitialData(validDocument(), { expectedDim: 512 });
    const g = new Gallery();
    let rev = 0;
    for (const c of r.data.companies) g.apply({ revision: ++rev, type: "company.put", companyId: c });
    for (const u of r.data.users) g.apply({ revision: ++rev, type: "user.put", ...u });
    for (const f of r.data.faces) g.apply({ revision: ++rev, type: "face.put", face: f });
    const exported = exportInitialData(g.export(), { exportedAt: "2025-01-01T00:00:00Z" });
    expect(exported).toMatchObject({ format: "facegate-initial-data", version: 1, model: "fr_feature@87aacdfe" });
    const again = parseInitialData(JSON.parse(JSON.stringify(exported)), { expectedDim: 512 });
    expect(again.warnings).toEqual([]);
    expect(again.stats.loaded).toEqual(r.stats.loaded);
    expect(again.data.users).toEqual(expect.arrayContaining(r.data.users));
    const byId = (x: { faceId: string }) => x.faceId;
    const a = [...again.data.faces].sort((x, y) => byId(x).localeCompare(byId(y)));
    const b = [...r.data.faces].sort((x, y) => byId(x).localeCompare(byId(y)));
    for (let i = 0; i < a.length; i++) {
      for (let j = 0; j < 512; j++) expect(a[i].embedding[j]).toBeCloseTo(b[i].embedding[j], 6);
    }
  });
});
