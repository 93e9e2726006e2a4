import { describe, expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/errors.ts";
import { Gallery, type SearchHit } from "../../../lib/core/gallery.ts";
import { normalize } from "../../../lib/core/vectors.ts";
import { Int8Kernel } from "../../../lib/core/int8-kernel.ts";
import { JsKernel, type KernelFactory } from "../../../lib/core/search-kernel.ts";
import { simdKernels } from "../../../lib/core/wasm-simd.ts";
import type { FaceRecord, StoreEvent } from "../../../lib/core/store.ts";

import { randomUnit, rng } from "../../helpers/vectors.ts";

let rev = 0;
const ev = {
  company: (companyId: string): StoreEvent => ({ revision: ++rev, type: "company.put", companyId }),
  user: (companyId: string, userId: string): StoreEvent => ({ revision: ++rev, type: "user.put", companyId, userId }),
  face: (face: FaceRecord): StoreEvent => ({ revision: ++rev, type: "face.put", face }),
  delFace: (companyId: string, userId: string, faceId: string): StoreEvent => ({ revision: ++rev, type: "face.delete", companyId, userId, faceId }),
  delUser: (companyId: string, userId: string): StoreEvent => ({ revision: ++rev, type: "user.delete", companyId, userId }),
  delCompany: (companyId: string): StoreEvent => ({ revision: ++rev, type: "company.delete", companyId }),
};

/** Applies a face as a store would deliver it: its company and user first when the gallery lacks them. */
function put(g: Gallery, face: FaceRecord): boolean {
  if (!g.hasCompany(face.companyId)) g.apply(ev.company(face.companyId));
  if (!g.hasUser(face.companyId, face.userId)) g.apply(ev.user(face.companyId, face.userId));
  return g.apply(ev.face(face));
}

const rec = (companyId: string, userId: string, faceId: string, embedding: Float32Array, model = "m"): FaceRecord => ({
  companyId,
  userId,
  faceId,
  embedding,
  model,
});

/** Brute force in float64 over a plain list: per-user max, ties by user id then face id. */
function bruteForce(faces: FaceRecord[], query: Float32Array, k: number): SearchHit[] {
  const best = new Map<string, SearchHit>();
  const q = normalize(query);
  for (const f of faces) {
    let s = 0;
    for (let i = 0; i < q.length; i++) s += f.embedding[i] * q[i];
    const b = best.get(f.userId);
    if (!b || s > b.score || (s === b.score && f.faceId < b.faceId)) best.set(f.userId, { userId: f.userId, faceId: f.faceId, score: s });
  }
  return [...best.values()].sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1)).slice(0, k);
}

function checkAgainstBruteForce(kernel: KernelFactory | undefined, seed: number): void {
  const rand = rng(seed);
  const dim = 512;
  const g = new Gallery({ kernel, score: "max" });
  g.apply(ev.company("c"));
  const live = new Map<string, FaceRecord>();
  // several thousand faces, users with 1-4 faces, then deletes (swap-with-last) and re-adds
  let faceNo = 0;
  for (let u = 0; u < 1500; u++) {
    const userId = `user-${u}`;
    g.apply(ev.user("c", userId));
    const n = 1 + Math.floor(rand() * 4);
    for (let j = 0; j < n; j++) {
      const f = rec("c", userId, `f${faceNo++}`, randomUnit(rand, dim));
      put(g, f);
      live.set(`${userId}/${f.faceId}`, f);
    }
  }
  const keys = [...live.keys()];
  for (let i = 0; i < keys.length; i += 3) {
    const [userId, faceId] = keys[i].split("/");
    g.apply(ev.delFace("c", userId, faceId));
    live.delete(keys[i]);
  }
  for (let u = 0; u < 1500; u += 7) {
    g.apply(ev.delUser("c", `user-${u}`));
    for (const k of [...live.keys()]) if (k.startsWith(`user-${u}/`)) live.delete(k);
  }
  for (let u = 0; u < 200; u++) {
    const f = rec("c", `new-${u}`, "f", randomUnit(rand, dim));
    put(g, f);
    live.set(`new-${u}/f`, f);
  }
  expect(g.stats().faces).toBe(live.size);
  const faces = [...live.values()];
  for (let t = 0; t < 30; t++) {
    // half the queries near an enrolled face (realistic), half random
    const near = t % 2 === 0 ? faces[Math.floor(rand() * faces.length)].embedding : null;
    const query = randomUnit(rand, dim);
    if (near) for (let i = 0; i < dim; i++) query[i] = near[i] + query[i] * 0.5;
    const k = 1 + (t % 10);
    const got = g.search("c", query, { k });
    const want = bruteForce(faces, query, k);
    expect(got.map((h) => [h.userId, h.faceId])).toEqual(want.map((h) => [h.userId, h.faceId]));
    for (let i = 0; i < got.length; i++) expect(got[i].score).toBeCloseTo(want[i].score, 5);
  }
}

describe("Gallery", () => {
  test("search matches a brute-force reference over several thousand faces with deletes (JS kernel)", () => {
    checkAgainstBruteForce(() => new JsKernel(), 1);
  });

  test("search with the default kernel (int8 WASM SIMD + exact re-rank) matches the brute-force reference", () => {
    expect(simdKernels()).not.toBeNull();
    checkAgainstBruteForce(undefined, 2);
  });

  test("int8 kernel active from 16 rows: growth, swaps and deletes while active stay exact", () => {
    checkAgainstBruteForce(() => new Int8Kernel(16), 3);
  });

  test("int8 kernel: one user with many faces (fewer distinct users than candidates) and ties stay exact", () => {
    const g = new Gallery({ kernel: () => new Int8Kernel(16), score: "max" });
    const rand = rng(9);
    const faces: FaceRecord[] = [];
    for (let i = 0; i < 300; i++) faces.push(rec("c", "many", `f${String(i).padStart(3, "0")}`, randomUnit(rand, 64)));
    for (let u = 0; u < 5; u++) faces.push(rec("c", `few${u}`, "f", randomUnit(rand, 64)));
    // exact duplicates: ties between users and between faces of one user
    faces.push(rec("c", "dupA", "f", faces[7].embedding.slice()));
    faces.push(rec("c", "dupB", "f", faces[7].embedding.slice()));
    faces.push(rec("c", "many", "zzz", faces[7].embedding.slice()));
    for (const f of faces) put(g, f);
    for (const query of [faces[7].embedding, randomUnit(rand, 64), faces[301].embedding]) {
      for (const k of [1, 3, 8, 20]) {
        const got = g.search("c", query, { k });
        const want = bruteForce(faces, query, k);
        expect(got.map((h) => [h.userId, h.faceId])).toEqual(want.map((h) => [h.userId, h.faceId]));
      }
    }
    expect(g.search("c", faces[7].embedding, { k: 3 }).map((h) => h.userId)).toEqual(["dupA", "dupB", "many"]);
    expect(g.search("c", faces[7].embedding, { k: 3, minScore: 0.999 })[2].faceId).toBe("f007");
  });

  test("best face per user; ties order by user id; empty and unknown companies give []", () => {
    const g = new Gallery({ score: "max" });
    expect(g.search("nope", [1, 0, 0, 0])).toEqual([]);
    g.apply(ev.company("c"));
    expect(g.search("c", [1, 0, 0, 0])).toEqual([]);
    g.apply(ev.user("c", "no-faces"));
    expect(g.search("c", [1, 0, 0, 0], { k: 5 })).toEqual([]);
    put(g, rec("c", "bob", "b1", normalize([0, 1, 0, 0])));
    put(g, rec("c", "bob", "b2", normalize([1, 1, 0, 0])));
    put(g, rec("c", "amy", "a1", normalize([1, 1, 0, 0])));
    put(g, rec("c", "cid", "c1", normalize([0, 0, 1, 0])));
    const hits = g.search("c", [1, 0, 0, 0], { k: 10 });
    // amy and bob tie at cos 45°; amy first by id; bob's best face is b2; cid at 0; no-faces absent
    expect(hits.map((h) => [h.userId, h.faceId])).toEqual([
      ["amy", "a1"],
      ["bob", "b2"],
      ["cid", "c1"],
    ]);
    expect(hits[0].score).toBeCloseTo(Math.SQRT1_2, 6);
    expect(g.search("c", [1, 0, 0, 0], { k: 1 }).map((h) => h.userId)).toEqual(["amy"]);
    expect(g.search("c", [1, 0, 0, 0], { k: 0 })).toEqual([]);
    expect(g.search("c", [1, 0, 0, 0], { k: 10, minScore: 0.5 }).map((h) => h.userId)).toEqual(["amy", "bob"]);
    // query is normalised: scale does not matter
    expect(g.search("c", [5, 0, 0, 0], { k: 1 })[0].score).toBeCloseTo(Math.SQRT1_2, 6);
  });

  test("a tie between two faces of one user reports the smaller face id", () => {
    const g = new Gallery({ score: "max" });
    put(g, rec("c", "u", "z", normalize([1, 0])));
    put(g, rec("c", "u", "a", normalize([1, 0])));
    expect(g.search("c", [1, 0])[0].faceId).toBe("a");
  });

  test("model id and dimension per company: MODEL_MISMATCH; released when the last face goes", () => {
    const g = new Gallery({ onWarning: () => {} });
    put(g, rec("c", "u", "f", normalize([1, 0, 0]), "m1"));
    expect(() => g.checkModel("c", "m2", 3)).toThrow(FaceError);
    try {
      g.search("c", [1, 0, 0], { model: "m2" });
      throw new Error("no error");
    } catch (e) {
      expect(FaceError.is(e, "MODEL_MISMATCH")).toBe(true);
    }
    expect(() => g.search("c", [1, 0])).toThrow(/MODEL|model/);
    g.checkModel("other", "m2", 3); // unknown company: anything goes
    // an event of another model cannot be applied: skipped, counted, revision still advances
    const r = ev.face(rec("c", "u", "g", normalize([0, 1, 0]), "m2"));
    expect(g.apply(r)).toBe(true);
    expect(g.skipped).toBe(1);
    expect(g.hasFace("c", "u", "g")).toBe(false);
    expect(g.revision).toBe(r.revision);
    g.apply(ev.delFace("c", "u", "f"));
    expect(g.companyModel("c")).toBeNull();
    put(g, rec("c", "u", "h", normalize([0, 1, 0, 0, 1]), "m2"));
    expect(g.companyModel("c")).toEqual({ model: "m2", dim: 5 });
  });

  test("apply is idempotent and ordered; deletes cascade; children never create their parents", () => {
    const g = new Gallery({ onWarning: () => {} });
    g.apply(ev.company("c"));
    g.apply(ev.user("c", "u"));
    const put = ev.face(rec("c", "u", "f", normalize([1, 2])));
    expect(g.apply(put)).toBe(true);
    expect(g.apply(put)).toBe(false);
    const del = ev.delFace("c", "u", "f");
    g.apply(del);
    // a stale replay of the put (older revision) does not resurrect the face
    expect(g.apply(put)).toBe(false);
    expect(g.hasFace("c", "u", "f")).toBe(false);
    expect(g.hasUser("c", "u")).toBe(true); // the last face deleted keeps the user
    g.apply(ev.face(rec("c", "u", "f2", normalize([1, 2]))));
    g.apply(ev.delUser("c", "u"));
    expect(g.stats()).toMatchObject({ companies: 1, users: 0, faces: 0 });
    // a late face of the deleted user (newer revision) is skipped: the user stays deleted
    const skipped = g.skipped;
    expect(g.apply(ev.face(rec("c", "u", "late", normalize([1, 2]))))).toBe(true);
    expect(g.hasUser("c", "u")).toBe(false);
    expect(g.skipped).toBe(skipped + 1);
    g.apply(ev.user("c", "v"));
    g.apply(ev.face(rec("c", "v", "f", normalize([1, 2]))));
    g.apply(ev.delCompany("c"));
    expect(g.stats()).toMatchObject({ companies: 0, users: 0, faces: 0 });
    // neither a user nor a face brings a deleted company back
    g.apply(ev.user("c", "w"));
    g.apply(ev.face(rec("c", "w", "f", normalize([1, 2]))));
    expect(g.hasCompany("c")).toBe(false);
    expect(g.stats()).toMatchObject({ companies: 0, users: 0, faces: 0 });
    expect(g.skipped).toBe(skipped + 3);
    // deletes of absent records are no-ops
    g.apply(ev.delFace("x", "y", "z"));
    g.apply(ev.delUser("x", "y"));
    g.apply(ev.delCompany("x"));
    expect(g.revision).toBe(rev);
  });

  test("rows stay dense through swap-with-last deletes and growth", () => {
    const g = new Gallery({ score: "max" });
    const rand = rng(5);
    for (let i = 0; i < 100; i++) put(g, rec("c", `u${i % 10}`, `f${i}`, randomUnit(rand, 16)));
    for (let i = 0; i < 100; i += 2) g.apply(ev.delFace("c", `u${i % 10}`, `f${i}`));
    const idx = g.index("c")!;
    expect(idx.count).toBe(50);
    // every remaining face is where its user's map says, with its own vector
    for (const [userId, user] of idx.users) {
      for (const [faceId, row] of user.faces) {
        expect(idx.rowFace[row]).toBe(faceId);
        expect(idx.slotIds[idx.rowUser[row]]).toBe(userId);
        expect(g.search("c", g.getEmbedding("c", userId, faceId)!, { k: 1 })[0]).toMatchObject({ userId, faceId });
      }
    }
  });

  test("stats and export", () => {
    const g = new Gallery();
    g.apply(ev.company("a"));
    g.apply(ev.user("a", "lonely"));
    put(g, rec("a", "u", "f1", normalize([1, 0])));
    put(g, rec("a", "u", "f2", normalize([0, 1])));
    put(g, rec("b", "w", "f", normalize([0, 1])));
    const s = g.stats();
    expect(s).toMatchObject({ companies: 2, users: 3, faces: 3, embeddings: 3 });
    expect(s.perCompany.a).toMatchObject({ users: 2, faces: 2, model: "m", dim: 2 });
    const e = g.export();
    expect(e.companies).toEqual(["a", "b"]);
    expect(e.users).toEqual([
      { companyId: "a", userId: "lonely" },
      { companyId: "a", userId: "u" },
      { companyId: "b", userId: "w" },
    ]);
    expect(e.faces.map((f) => f.faceId)).toEqual(["f1", "f2", "f"]);
    expect(g.getUserFaces("a", "u")).toEqual(["f1", "f2"]);
    expect(g.getUserFaces("a", "nobody")).toEqual([]);
  });

  test("waitForRevision resolves when applied, times out with TIMEOUT, sync events advance", async () => {
    const g = new Gallery();
    const r = rev + 2;
    const waiting = g.waitForRevision(r, 2000);
    g.apply(ev.company("x"));
    g.apply({ revision: ++rev, type: "sync" });
    await waiting;
    expect(g.revision).toBe(r);
    const late = g.waitForRevision(r + 100, 30);
    await expect(late).rejects.toMatchObject({ code: "TIMEOUT" });
    await g.waitForRevision(1, 0); // already applied: immediate
  });
});
