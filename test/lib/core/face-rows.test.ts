/**
 * The per-user memory savings keep the gallery's answers: FaceRows behaves as the Map it replaced,
 * templates are the normalised mean of the faces without a kept float64 sum, and trim() after a
 * replay changes no search and leaves room to grow.
 */
import { expect, test } from "bun:test";
import { FaceRows } from "../../../lib/core/face-rows.ts";
import { Gallery } from "../../../lib/core/gallery.ts";
import { normalize } from "../../../lib/core/vectors.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

test("FaceRows: one face inline, a map from the second, back to inline", () => {
  const f = new FaceRows();
  expect(f.size).toBe(0);
  expect(f.get("a")).toBeUndefined();
  f.set("a", 3);
  f.set("a", 4);
  expect([...f]).toEqual([["a", 4]]);
  f.set("b", 5);
  f.set("c", 6);
  expect(f.size).toBe(3);
  expect([...f.keys()]).toEqual(["a", "b", "c"]);
  expect(f.delete("a")).toBe(true);
  expect(f.delete("a")).toBe(false);
  expect(f.delete("c")).toBe(true);
  expect([...f.entries()]).toEqual([["b", 5]]);
  expect(f.has("b")).toBe(true);
  expect(f.delete("b")).toBe(true);
  expect(f.size).toBe(0);
  expect([...f.values()]).toEqual([]);
});

test("templates without a kept sum, and trim(): the same answers before and after, growth after", () => {
  const rand = rng(6);
  const g = new Gallery({ onWarning: () => {} });
  let rev = 0;
  g.apply({ revision: ++rev, type: "company.put", companyId: "c" });
  const faces: Record<string, Float32Array[]> = {};
  for (let u = 0; u < 37; u++) {
    g.apply({ revision: ++rev, type: "user.put", companyId: "c", userId: `u${u}` });
    faces[`u${u}`] = [];
    for (let f = 0; f < 1 + (u % 3); f++) {
      const embedding = randomUnit(rand, 64);
      faces[`u${u}`]!.push(embedding);
      g.apply({ revision: ++rev, type: "face.put", face: { companyId: "c", userId: `u${u}`, faceId: `f${f}`, embedding, model: "m" } });
    }
  }
  // a face removed from a 3-face user: its template is the mean of the other two
  g.apply({ revision: ++rev, type: "face.delete", companyId: "c", userId: "u2", faceId: "f0" });
  const mean = normalize(faces.u2![1]!.map((x, i) => x + faces.u2![2]![i]!));
  const t = g.index("c")!.template("u2")!;
  for (let i = 0; i < 64; i++) expect(t[i]!).toBeCloseTo(mean[i]!, 6);
  const queries = Array.from({ length: 20 }, () => randomUnit(rand, 64));
  const before = queries.map((q) => g.search("c", q, { k: 5 }));
  const bytes = g.stats().bytes;
  g.trim();
  expect(g.stats().bytes).toBeLessThan(bytes);
  expect(queries.map((q) => g.search("c", q, { k: 5 }))).toEqual(before);
  // room to grow again
  g.apply({ revision: ++rev, type: "user.put", companyId: "c", userId: "late" });
  g.apply({ revision: ++rev, type: "face.put", face: { companyId: "c", userId: "late", faceId: "x", embedding: queries[0]!, model: "m" } });
  expect(g.search("c", queries[0]!, { k: 1 })[0]).toMatchObject({ userId: "late", faceId: "x" });
});
