/**
 * The GalleryStore contract as a parameterised test suite: every store (memory, SQLite, NATS KV)
 * runs the same tests.
 *
 *   runGalleryStoreContract("sqlite", () => new SqliteGalleryStore({ path }), { reopen });
 *
 * Events may be delivered asynchronously (KV): the tests wait for revisions with a bounded timeout
 * instead of assuming synchronous delivery.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { FaceError, type FaceRecord, Gallery, type GalleryStore, type StoreEvent } from "../../lib/core/internal.ts";
import { rng } from "./vectors.ts";

export interface StoreContractOptions {
  /** Closes `store` and opens the same data again (durable stores). */
  reopen?: (store: GalleryStore) => Promise<GalleryStore> | GalleryStore;
  /** How long to wait for an event (default 5000 ms). */
  waitMs?: number;
  /** Rounds of the delete-versus-add races (default 40). */
  raceRounds?: number;
}

/** The error code a rejected store call failed with ("?" for anything that is not a FaceError). */
async function failure(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (error) {
    return error instanceof FaceError ? error.code : `? ${String(error)}`;
  }
}

/**
 * A fresh replay of the store, checked as a tree: every user's company and every face's user came
 * earlier in it. Returns the ids it holds.
 */
async function replayTree(store: GalleryStore): Promise<{ companies: Set<string>; users: Set<string>; faces: Set<string>; orphans: string[] }> {
  const companies = new Set<string>();
  const users = new Set<string>();
  const faces = new Set<string>();
  const orphans: string[] = [];
  const stop = await store.watch((e) => {
    if (e.type === "company.put") companies.add(e.companyId);
    else if (e.type === "user.put") {
      if (!companies.has(e.companyId)) orphans.push(`user ${e.companyId}/${e.userId}`);
      users.add(`${e.companyId}/${e.userId}`);
    } else if (e.type === "face.put") {
      const f = e.face;
      if (!users.has(`${f.companyId}/${f.userId}`)) orphans.push(`face ${f.companyId}/${f.userId}/${f.faceId}`);
      faces.add(`${f.companyId}/${f.userId}/${f.faceId}`);
    }
  });
  stop();
  return { companies, users, faces, orphans };
}

/** Runs the calls in a random order, each after a random 0-2 ms pause, all in flight together. */
function race<T>(rand: () => number, calls: Array<() => Promise<T>>): Promise<T[]> {
  return Promise.all(
    calls.map(async (call) => {
      const pause = Math.floor(rand() * 3);
      if (pause > 0) await Bun.sleep(pause);
      else await Promise.resolve();
      return call();
    }),
  );
}

let seq = 0;
export function face(companyId: string, userId: string, faceId: string, dim = 8, model = "test-model"): FaceRecord {
  const v = new Float32Array(dim);
  seq++;
  for (let i = 0; i < dim; i++) v[i] = Math.sin(seq * 7.3 + i * 1.7 + faceId.length);
  let n = 0;
  for (const x of v) n += x * x;
  for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(n);
  return { companyId, userId, faceId, embedding: v, model };
}

/** A watcher that records every event and feeds a Gallery. */
async function follow(store: GalleryStore): Promise<{ events: StoreEvent[]; gallery: Gallery; stop: () => void }> {
  const events: StoreEvent[] = [];
  const gallery = new Gallery({ onWarning: () => {} });
  const stop = await store.watch((e) => {
    events.push(e);
    gallery.apply(e);
  });
  return { events, gallery, stop };
}

export function runGalleryStoreContract(
  name: string,
  makeStore: () => Promise<GalleryStore> | GalleryStore,
  options: StoreContractOptions = {},
): void {
  const waitMs = options.waitMs ?? 5000;
  describe(`GalleryStore contract: ${name}`, () => {
    const open: GalleryStore[] = [];
    const make = async () => {
      const s = await makeStore();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    test("a new store is empty: the replay holds nothing but (optionally) a sync", async () => {
      const store = await make();
      const { events, stop } = await follow(store);
      expect(events.filter((e) => e.type !== "sync")).toEqual([]);
      expect(await store.revision()).toBeGreaterThanOrEqual(0);
      stop();
    });

    test("createCompany is create-if-absent with increasing revisions, and emits one event", async () => {
      const store = await make();
      const w = await follow(store);
      const a = await store.createCompany("acme");
      expect(a.created).toBe(true);
      const again = await store.createCompany("acme");
      expect(again.created).toBe(false);
      expect(again.revision).toBeGreaterThanOrEqual(a.revision);
      const b = await store.createCompany("beta");
      expect(b.revision).toBeGreaterThan(a.revision);
      await w.gallery.waitForRevision(b.revision, waitMs);
      const puts = w.events.filter((e) => e.type === "company.put");
      expect(puts.map((e) => e.revision)).toEqual([a.revision, b.revision]);
      expect(await store.revision()).toBe(b.revision);
      w.stop();
    });

    test("users and faces: create-if-absent, embeddings round-trip bit-exactly with their model", async () => {
      const store = await make();
      const w = await follow(store);
      await store.createCompany("acme");
      expect((await store.createUser("acme", "u1")).created).toBe(true);
      expect((await store.createUser("acme", "u1")).created).toBe(false);
      const f = face("acme", "u1", "f1", 512, "m1");
      const put = await store.addFace(f);
      expect(put.created).toBe(true);
      expect((await store.addFace(face("acme", "u1", "f1", 512, "m1"))).created).toBe(false);
      await w.gallery.waitForRevision(put.revision, waitMs);
      const ev = w.events.find((e) => e.type === "face.put");
      expect(ev?.type === "face.put" && ev.face.model).toBe("m1");
      expect(ev?.type === "face.put" && Array.from(ev.face.embedding)).toEqual(Array.from(f.embedding));
      // a second watcher replays the same record
      const w2 = await follow(store);
      const replayed = w2.events.find((e) => e.type === "face.put");
      expect(replayed?.type === "face.put" && Array.from(replayed.face.embedding)).toEqual(Array.from(f.embedding));
      expect(w2.gallery.getUserFaces("acme", "u1")).toEqual(["f1"]);
      w.stop();
      w2.stop();
    });

    test("profiles: given at creation, replaced by updateUser (after the faces: a replay still holds them), cleared, gone with the user", async () => {
      const store = await make();
      const w = await follow(store);
      await store.createCompany("acme");
      await store.createUser("acme", "ada", { name: "Ada Lovelace", metadata: { dept: "R&D", badge: 1815 } });
      // create-if-absent leaves an existing user's profile alone
      await store.createUser("acme", "ada", { name: "Someone Else" });
      await store.addFace(face("acme", "ada", "f1", 8));
      const renamed = await store.updateUser("acme", "ada", { name: "Ada King" });
      await w.gallery.waitForRevision(renamed.revision, waitMs);
      expect(w.gallery.userProfile("acme", "ada")).toEqual({ name: "Ada King" });
      // a fresh replay: the newer profile, and the face (the update did not move the user after it)
      const w2 = await follow(store);
      expect(w2.gallery.userProfile("acme", "ada")).toEqual({ name: "Ada King" });
      expect(w2.gallery.getUserFaces("acme", "ada")).toEqual(["f1"]);
      expect((await replayTree(store)).orphans).toEqual([]);
      const cleared = await store.updateUser("acme", "ada", undefined);
      await w.gallery.waitForRevision(cleared.revision, waitMs);
      expect(w.gallery.userProfile("acme", "ada")).toBeUndefined();
      const w3 = await follow(store);
      expect(w3.gallery.userProfile("acme", "ada")).toBeUndefined();
      expect(await failure(store.updateUser("acme", "nobody", { name: "X" }))).toBe("USER_NOT_FOUND");
      expect(await failure(store.updateUser("nowhere", "ada", { name: "X" }))).toBe("COMPANY_NOT_FOUND");
      // a user deleted and created again starts without the old profile
      await store.updateUser("acme", "ada", { name: "Ada King" });
      await store.deleteUser("acme", "ada");
      const back = await store.createUser("acme", "ada");
      await w.gallery.waitForRevision(back.revision, waitMs);
      expect(w.gallery.userProfile("acme", "ada")).toBeUndefined();
      const w4 = await follow(store);
      expect(w4.gallery.userProfile("acme", "ada")).toBeUndefined();
      if (store.bulkLoad) {
        await store.bulkLoad({ companies: [], users: [{ companyId: "acme", userId: "bo", profile: { name: "Bo" } }], faces: [] });
        const w5 = await follow(store);
        expect(w5.gallery.userName("acme", "bo")).toBe("Bo");
        w5.stop();
      }
      for (const x of [w, w2, w3, w4]) x.stop();
    });

    test("deletes: false when absent; user delete cascades to faces; last face delete keeps the user", async () => {
      const store = await make();
      const w = await follow(store);
      expect((await store.deleteCompany("nope")).deleted).toBe(false);
      expect((await store.deleteUser("nope", "u")).deleted).toBe(false);
      expect((await store.deleteFace("nope", "u", "f")).deleted).toBe(false);
      await store.createCompany("acme");
      await store.createUser("acme", "u1");
      await store.createUser("acme", "u2");
      await store.addFace(face("acme", "u1", "f1"));
      await store.addFace(face("acme", "u1", "f2"));
      await store.addFace(face("acme", "u2", "f1"));
      const df = await store.deleteFace("acme", "u2", "f1");
      expect(df.deleted).toBe(true);
      expect((await store.deleteFace("acme", "u2", "f1")).deleted).toBe(false);
      const du = await store.deleteUser("acme", "u1");
      expect(du.deleted).toBe(true);
      expect(du.revision).toBeGreaterThan(df.revision);
      await w.gallery.waitForRevision(du.revision, waitMs);
      expect(w.gallery.hasUser("acme", "u1")).toBe(false);
      expect(w.gallery.hasUser("acme", "u2")).toBe(true);
      expect(w.gallery.getUserFaces("acme", "u2")).toEqual([]);
      // a fresh replay agrees: u1 and its faces are gone, u2 has no faces
      const w2 = await follow(store);
      expect(w2.gallery.export()).toEqual(w.gallery.export());
      expect(w2.gallery.stats().faces).toBe(0);
      // re-creating a deleted face id works
      expect((await store.addFace(face("acme", "u2", "f1"))).created).toBe(true);
      w.stop();
      w2.stop();
    });

    test("deleteCompany cascades to users and faces, and the ids can be reused", async () => {
      const store = await make();
      const w = await follow(store);
      await store.createCompany("acme");
      await store.createCompany("beta");
      await store.createUser("acme", "u1");
      await store.addFace(face("acme", "u1", "f1"));
      await store.createUser("beta", "u1");
      await store.addFace(face("beta", "u1", "f1"));
      const d = await store.deleteCompany("acme");
      expect(d.deleted).toBe(true);
      await w.gallery.waitForRevision(d.revision, waitMs);
      expect(w.gallery.hasCompany("acme")).toBe(false);
      expect(w.gallery.hasFace("beta", "u1", "f1")).toBe(true);
      const w2 = await follow(store);
      expect(w2.gallery.companyIds()).toEqual(["beta"]);
      expect(w2.gallery.stats().faces).toBe(1);
      expect((await store.createCompany("acme")).created).toBe(true);
      expect((await store.createUser("acme", "u1")).created).toBe(true);
      w.stop();
      w2.stop();
    });

    test("events arrive in strictly increasing revision order, exactly once, matching the returned revisions", async () => {
      const store = await make();
      const w = await follow(store);
      const revisions: number[] = [];
      revisions.push((await store.createCompany("c")).revision);
      for (let i = 0; i < 20; i++) {
        revisions.push((await store.createUser("c", `u${i}`)).revision);
        revisions.push((await store.addFace(face("c", `u${i}`, "f"))).revision);
        if (i % 3 === 0) revisions.push((await store.deleteUser("c", `u${i}`)).revision);
      }
      const last = revisions[revisions.length - 1];
      await w.gallery.waitForRevision(last, waitMs);
      const live = w.events.filter((e) => e.type !== "sync").map((e) => e.revision);
      for (let i = 1; i < live.length; i++) expect(live[i]).toBeGreaterThan(live[i - 1]);
      for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1]);
      // every write revision was delivered (the cascades may add events before it)
      for (const r of revisions) expect(live).toContain(r);
      expect(w.gallery.stats().users).toBe(13);
      w.stop();
    });

    test("concurrent create-if-absent: exactly one caller creates", async () => {
      const store = await make();
      await store.createCompany("c");
      const users = await Promise.all(Array.from({ length: 8 }, () => store.createUser("c", "same")));
      expect(users.filter((r) => r.created).length).toBe(1);
      const faces = await Promise.all(Array.from({ length: 8 }, () => store.addFace(face("c", "same", "f"))));
      expect(faces.filter((r) => r.created).length).toBe(1);
      const companies = await Promise.all(Array.from({ length: 8 }, () => store.createCompany("x")));
      expect(companies.filter((r) => r.created).length).toBe(1);
    });

    test("a replay after changes equals the live view, and ends at the current revision", async () => {
      const store = await make();
      const w = await follow(store);
      await store.createCompany("a");
      await store.createCompany("b");
      for (let i = 0; i < 10; i++) {
        await store.createUser(i % 2 ? "a" : "b", `u${i}`);
        await store.addFace(face(i % 2 ? "a" : "b", `u${i}`, "f1"));
        await store.addFace(face(i % 2 ? "a" : "b", `u${i}`, "f2"));
      }
      await store.deleteFace("a", "u1", "f1");
      await store.deleteUser("b", "u2");
      const last = (await store.deleteCompany("b")).revision;
      await w.gallery.waitForRevision(last, waitMs);
      const w2 = await follow(store);
      // the replay ends at (or is advanced to) the store revision
      const rev = await store.revision();
      w2.gallery.advanceTo(rev);
      expect(w2.gallery.revision).toBe(rev);
      expect(w2.gallery.export()).toEqual(w.gallery.export());
      const replayRevs = w2.events.filter((e) => e.type !== "sync").map((e) => e.revision);
      expect([...replayRevs].sort((x, y) => x - y)).toEqual(replayRevs);
      w.stop();
      w2.stop();
    });

    test("stop() ends delivery; a throwing listener does not break the store, and is reported", async () => {
      // The store reports a failing listener on the console (error or warn, by store): captured
      // here and asserted, rather than printed into a passing run.
      const reported: string[] = [];
      const capture = (...args: unknown[]) => {
        reported.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
      };
      const spies = [spyOn(console, "error").mockImplementation(capture), spyOn(console, "warn").mockImplementation(capture)];
      try {
        const store = await make();
        const seen: StoreEvent[] = [];
        const stop = await store.watch((e) => seen.push(e));
        const stopBad = await store.watch(() => {
          throw new Error("listener bug");
        });
        const w = await follow(store);
        const r1 = await store.createCompany("one");
        await w.gallery.waitForRevision(r1.revision, waitMs);
        expect(seen.some((e) => e.type === "company.put" && e.companyId === "one")).toBe(true);
        stop();
        stopBad();
        const r2 = await store.createCompany("two");
        await w.gallery.waitForRevision(r2.revision, waitMs);
        expect(seen.some((e) => e.type === "company.put" && e.companyId === "two")).toBe(false);
        w.stop();
        expect(reported.filter((line) => /listener/.test(line) && /listener bug/.test(line)).length).toBeGreaterThan(0);
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
    });

    test("bulkLoad (when implemented) creates only what is absent, in one revision range", async () => {
      const store = await make();
      if (!store.bulkLoad) return;
      await store.createCompany("acme");
      const w = await follow(store);
      const r = await store.bulkLoad({
        companies: ["acme", "beta"],
        users: [
          { companyId: "acme", userId: "u1" },
          { companyId: "beta", userId: "u1" },
        ],
        faces: [face("acme", "u1", "f1"), face("beta", "u1", "f1")],
      });
      expect(r.companies).toBe(1);
      expect(r.users).toBe(2);
      expect(r.faces).toBe(2);
      await w.gallery.waitForRevision(r.revision, waitMs);
      expect(w.gallery.stats()).toMatchObject({ companies: 2, users: 2, faces: 2 });
      w.stop();
    });

    test("parents are checked inside the write: an add under a missing company or user fails and writes nothing", async () => {
      const store = await make();
      expect(await failure(store.createUser("nope", "u"))).toBe("COMPANY_NOT_FOUND");
      expect(await failure(store.addFace(face("nope", "u", "f")))).toBe("COMPANY_NOT_FOUND");
      await store.createCompany("acme");
      expect(await failure(store.addFace(face("acme", "ghost", "f")))).toBe("USER_NOT_FOUND");
      await store.createUser("acme", "u");
      await store.deleteUser("acme", "u");
      expect(await failure(store.addFace(face("acme", "u", "f")))).toBe("USER_NOT_FOUND");
      await store.deleteCompany("acme");
      expect(await failure(store.createUser("acme", "u"))).toBe("COMPANY_NOT_FOUND");
      const tree = await replayTree(store);
      expect([...tree.companies, ...tree.users, ...tree.faces]).toEqual([]);
    });

    test("bulkLoad with markInitialised: the store stays initialised when emptied; the marker is no record", async () => {
      const store = await make();
      if (!store.bulkLoad || !store.isInitialised) return;
      expect(await store.isInitialised()).toBe(false);
      const w = await follow(store);
      await store.bulkLoad({ companies: ["x"], users: [], faces: [] }); // an import without the marker
      expect(await store.isInitialised()).toBe(false);
      const r = await store.bulkLoad(
        { companies: ["a"], users: [{ companyId: "a", userId: "u" }], faces: [face("a", "u", "f")] },
        { markInitialised: true },
      );
      // the gallery reaches the load's revision (the marker included)
      await w.gallery.waitForRevision(r.revision, waitMs);
      expect(w.gallery.stats()).toMatchObject({ companies: 2, users: 1, faces: 1 });
      expect(await store.isInitialised()).toBe(true);
      await store.deleteCompany("a");
      const last = (await store.deleteCompany("x")).revision;
      expect(await store.isInitialised()).toBe(true);
      await w.gallery.waitForRevision(last, waitMs);
      // a fresh replay: no records, and it ends at the store's revision
      const w2 = await follow(store);
      expect(w2.gallery.stats()).toMatchObject({ companies: 0, users: 0, faces: 0 });
      expect(w2.gallery.revision).toBe(await store.revision());
      w.stop();
      w2.stop();
    });

    const rounds = options.raceRounds ?? 40;
    test(`deletes racing adds and creates (${rounds} rounds each): a deleted user or company stays deleted, no orphan`, async () => {
      const store = await make();
      const w = await follow(store);
      const rand = rng(16);
      const codes = new Set<string>();
      const note = (code: string | null) => code && codes.add(code);
      for (let round = 0; round < rounds; round++) {
        // a user with a face; then more faces for it race its deletion
        const c = `c${round}`;
        await store.createCompany(c);
        await store.createUser(c, "u");
        await store.addFace(face(c, "u", "f0"));
        const userRace = await race(rand, [
          () => failure(store.addFace(face(c, "u", "f1"))),
          () => failure(store.addFace(face(c, "u", "f2"))),
          () => store.deleteUser(c, "u").then((r) => (r.deleted ? null : "not deleted")),
        ]);
        for (const code of userRace) note(code);
        expect(userRace[2]).toBeNull();
        // users and faces created while their company is deleted
        const companyRace = await race(rand, [
          () => failure(store.createUser(c, "v")),
          () => failure(store.createUser(c, "w").then(() => store.addFace(face(c, "w", "f")))),
          () => store.deleteCompany(c).then((r) => (r.deleted ? null : "not deleted")),
        ]);
        for (const code of companyRace) note(code);
        expect(companyRace[2]).toBeNull();
      }
      // only the parent checks may fail the adds
      for (const code of codes) expect(["COMPANY_NOT_FOUND", "USER_NOT_FOUND"]).toContain(code);
      await w.gallery.waitForRevision(await store.revision(), waitMs);
      expect(w.gallery.stats()).toMatchObject({ companies: 0, users: 0, faces: 0 });
      const tree = await replayTree(store);
      expect(tree.orphans).toEqual([]);
      expect([...tree.companies, ...tree.users, ...tree.faces]).toEqual([]);
      // and a gallery built from a fresh replay agrees
      const w2 = await follow(store);
      expect(w2.gallery.stats()).toMatchObject({ companies: 0, users: 0, faces: 0 });
      w.stop();
      w2.stop();
    }, 120_000);

    if (options.reopen) {
      const reopen = options.reopen;
      test("data and revision survive close and reopen", async () => {
        const store = await make();
        await store.createCompany("acme");
        await store.createUser("acme", "u1", { name: "Ada" });
        const f = face("acme", "u1", "f1", 512);
        await store.addFace(f);
        await store.updateUser("acme", "u1", { name: "Ada King", metadata: { dept: "R&D" } });
        const gone = await store.createUser("acme", "u2");
        const last = (await store.deleteUser("acme", "u2")).revision;
        expect(last).toBeGreaterThan(gone.revision);
        const again = await reopen(store);
        open.push(again);
        expect(await again.revision()).toBe(last);
        const w = await follow(again);
        expect(w.gallery.hasUser("acme", "u2")).toBe(false);
        expect(Array.from(w.gallery.getEmbedding("acme", "u1", "f1")!)).toEqual(Array.from(f.embedding));
        expect(w.gallery.userProfile("acme", "u1")).toEqual({ name: "Ada King", metadata: { dept: "R&D" } });
        expect((await again.createCompany("beta")).revision).toBeGreaterThan(last);
        w.stop();
      });

      test("the initialised marker survives close and reopen", async () => {
        const store = await make();
        if (!store.bulkLoad || !store.isInitialised) return;
        await store.bulkLoad({ companies: [], users: [], faces: [] }, { markInitialised: true });
        const again = await reopen(store);
        open.push(again);
        expect(await again.isInitialised!()).toBe(true);
      }, 30_000);
    }
  });
}
