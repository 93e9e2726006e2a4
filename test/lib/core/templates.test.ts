/**
 * User templates (normalised mean of a user's faces): maintained incrementally through adds, deletes,
 * user deletes and concurrent writes, always equal to the mean recomputed from scratch; search by
 * template matches a brute-force reference, and reports each user's best-matching face.
 */
import { describe, expect, test } from "bun:test";
import { Gallery } from "../../../lib/core/gallery.ts";
import { Int8Kernel } from "../../../lib/core/int8-kernel.ts";
import { MemoryGalleryStore } from "../../../lib/core/memory-store.ts";
import { JsKernel } from "../../../lib/core/search-kernel.ts";
import type { StoreEvent } from "../../../lib/core/store.ts";
import { normalize } from "../../../lib/core/vectors.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

const DIM = 32;

/** Templates and search from scratch: per user the normalised mean of their current faces. */
function reference(g: Gallery, companyId: string) {
  const faces = g.export().faces.filter((f) => f.companyId === companyId);
  const byUser = new Map<string, Array<{ faceId: string; e: Float32Array }>>();
  for (const f of faces) byUser.set(f.userId, [...(byUser.get(f.userId) ?? []), { faceId: f.faceId, e: f.embedding }]);
  const templates = new Map<string, Float32Array>();
  for (const [u, list] of byUser) {
    const sum = new Float64Array(DIM);
    for (const { e } of list) for (let j = 0; j < DIM; j++) sum[j] += e[j];
    templates.set(u, normalize(sum));
  }
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let j = 0; j < DIM; j++) s += a[j] * b[j];
    return s;
  };
  const search = (q: Float32Array, k: number) =>
    [...templates]
      .map(([userId, t]) => {
        const best = byUser.get(userId)!.reduce((a, b) => (dot(q, b.e) > dot(q, a.e) || (dot(q, b.e) === dot(q, a.e) && b.faceId < a.faceId) ? b : a));
        return { userId, score: dot(q, t), faceId: best.faceId };
      })
      .sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1))
      .slice(0, k);
  return { templates, search };
}

function expectMatchesReference(g: Gallery, companyId: string, rand: () => number): void {
  const ref = reference(g, companyId);
  const index = g.index(companyId)!;
  for (const [userId, want] of ref.templates) {
    const got = index.template(userId)!;
    expect(got).toBeDefined();
    for (let j = 0; j < DIM; j++) expect(Math.abs(got[j] - want[j])).toBeLessThan(1e-6);
  }
  // no template for users without faces
  for (const userId of index.users.keys()) if (!ref.templates.has(userId)) expect(index.template(userId)).toBeUndefined();
  for (let i = 0; i < 5; i++) {
    const q = randomUnit(rand, DIM);
    const want = ref.search(q, 5);
    const got = g.search(companyId, q, { k: 5 });
    expect(got.map((h) => [h.userId, h.faceId])).toEqual(want.map((h) => [h.userId, h.faceId]));
    for (let j = 0; j < got.length; j++) expect(got[j].score).toBeCloseTo(want[j].score, 5);
  }
}

describe("user templates", () => {
  for (const [name, kernel] of [
    ["JS kernel", () => new JsKernel()],
    ["int8 kernel from 16 rows", () => new Int8Kernel(16)],
  ] as const) {
    test(`random adds, face deletes and user deletes: templates equal recomputation from scratch (${name})`, () => {
      const rand = rng(name.length);
      const g = new Gallery({ kernel, onWarning: () => {} });
      let rev = 0;
      type NoRevision<E> = E extends StoreEvent ? Omit<E, "revision"> : never;
      const apply = (e: NoRevision<StoreEvent>) => g.apply({ ...e, revision: ++rev } as StoreEvent);
      apply({ type: "company.put", companyId: "c" });
      const live: Array<[string, string]> = [];
      for (let step = 0; step < 1500; step++) {
        const r = rand();
        const userId = `u${Math.floor(rand() * 60)}`;
        if (r < 0.6 || live.length === 0) {
          apply({ type: "user.put", companyId: "c", userId });
          const faceId = `f${step}`;
          apply({ type: "face.put", face: { companyId: "c", userId, faceId, embedding: randomUnit(rand, DIM), model: "m" } });
          live.push([userId, faceId]);
        } else if (r < 0.93) {
          const [u, f] = live.splice(Math.floor(rand() * live.length), 1)[0];
          apply({ type: "face.delete", companyId: "c", userId: u, faceId: f });
        } else {
          const [u] = live[Math.floor(rand() * live.length)];
          apply({ type: "user.delete", companyId: "c", userId: u });
          for (let i = live.length - 1; i >= 0; i--) if (live[i][0] === u) live.splice(i, 1);
        }
        if (step % 150 === 149) expectMatchesReference(g, "c", rand);
      }
      expectMatchesReference(g, "c", rand);
    });
  }

  test("one face: the template is the face; two faces: their normalised mean, which can beat either face", () => {
    const g = new Gallery({ onWarning: () => {} });
    g.apply({ revision: 1, type: "company.put", companyId: "c" });
    g.apply({ revision: 2, type: "user.put", companyId: "c", userId: "ann" });
    const a = normalize([1, 1, 0, 0]);
    const b = normalize([1, -1, 0, 0]);
    g.apply({ revision: 3, type: "face.put", face: { companyId: "c", userId: "ann", faceId: "a", embedding: a, model: "m" } });
    expect(Array.from(g.index("c")!.template("ann")!)).toEqual(Array.from(a));
    g.apply({ revision: 4, type: "face.put", face: { companyId: "c", userId: "ann", faceId: "b", embedding: b, model: "m" } });
    const [hit] = g.search("c", [1, 0, 0, 0]);
    // the mean of the two faces points at the query: score 1, above either face's 0.707
    expect(hit.score).toBeCloseTo(1, 6);
    expect(hit.faceId).toBe("a"); // tie between the faces: the smaller face id
    g.apply({ revision: 5, type: "face.delete", companyId: "c", userId: "ann", faceId: "a" });
    expect(Array.from(g.index("c")!.template("ann")!)).toEqual(Array.from(b));
    g.apply({ revision: 6, type: "face.delete", companyId: "c", userId: "ann", faceId: "b" });
    expect(g.index("c")!.template("ann")).toBeUndefined();
    expect(g.search("c", [1, 0, 0, 0])).toEqual([]);
  });

  test("concurrent writes through a store: the gallery's templates equal recomputation from the store's contents", async () => {
    const rand = rng(77);
    const store = new MemoryGalleryStore();
    const g = new Gallery({ kernel: () => new Int8Kernel(16), onWarning: () => {} });
    await store.watch((e) => g.apply(e));
    await store.createCompany("c");
    await Promise.all(Array.from({ length: 30 }, (_, u) => store.createUser("c", `u${u}`)));
    // 30 writers, each adding and deleting faces of random users at once
    await Promise.all(
      Array.from({ length: 30 }, async (_, w) => {
        const mine: Array<[string, string]> = [];
        for (let i = 0; i < 20; i++) {
          const userId = `u${Math.floor(rand() * 30)}`;
          const faceId = `w${w}-${i}`;
          await store.addFace({ companyId: "c", userId, faceId, embedding: randomUnit(rand, DIM), model: "m" });
          mine.push([userId, faceId]);
          if (rand() < 0.3) {
            const [u, f] = mine.splice(Math.floor(rand() * mine.length), 1)[0];
            await store.deleteFace("c", u, f);
          }
        }
      }),
    );
    // a second gallery replaying the store from scratch has the same templates
    const fresh = new Gallery({ onWarning: () => {} });
    await store.watch((e) => fresh.apply(e));
    expectMatchesReference(g, "c", rand);
    for (const userId of g.index("c")!.users.keys()) {
      const a = g.index("c")!.template(userId);
      const b = fresh.index("c")!.template(userId);
      expect(a === undefined).toBe(b === undefined);
      if (a && b) for (let j = 0; j < DIM; j++) expect(Math.abs(a[j] - b[j])).toBeLessThan(1e-6);
    }
  });
});
