/**
 * The idempotency protocol (lib/service/idempotency.ts) over the memory store, with a FaceApi that
 * counts what it runs: replays, key reuse, concurrent duplicates, and the takeover after an
 * attempt whose outcome is unknown (the real service over HTTP and NATS is tested in
 * test/server/idempotency.test.ts and test/lib/nats/idempotency.test.ts).
 */
import { describe, expect, test } from "bun:test";
import type { FaceApi } from "../../../lib/core/internal.ts";
import { FaceError, UnavailableError } from "../../../lib/core/internal.ts";
import { MemoryIdempotencyStore } from "../../../lib/core/internal.ts";
import { recordKey, requestHash, withIdempotency, type GalleryProbe } from "../../../lib/service/idempotency.ts";
import { codeOf } from "../../helpers/errors.ts";

/** A gallery of user ids in one company, and a FaceApi over it whose writes can be made to fail after applying. */
function fixture(opts: { slowMs?: number } = {}) {
  const users = new Set<string>();
  const calls: string[] = [];
  let failAfterApply: FaceError | undefined;
  const probe: GalleryProbe = {
    hasCompany: () => true,
    hasUser: (_c, u) => users.has(u),
    hasFace: (_c, u) => users.has(u),
    revision: 7,
  };
  const after = async () => {
    if (opts.slowMs) await Bun.sleep(opts.slowMs);
    const f = failAfterApply;
    failAfterApply = undefined;
    if (f) throw f;
  };
  const api = {
    async deleteUser(req: { userId: string }) {
      calls.push(`delete ${req.userId}`);
      const deleted = users.delete(req.userId);
      await after();
      return { deleted, revision: 1 };
    },
    async createUser(req: { companyId: string; userId: string; faceId: string }) {
      calls.push(`create ${req.userId}`);
      if (users.has(req.userId)) throw new FaceError("USER_EXISTS", `user ${req.userId} exists`);
      users.add(req.userId);
      await after();
      return { companyId: req.companyId, userId: req.userId, faceId: req.faceId, embedding: [1], detectionScore: 0.9, bbox: [1, 2, 3, 4], model: "m", revision: 2 };
    },
    async addFace() {
      calls.push("addFace");
      throw new FaceError("FACE_EXISTS", "face exists");
    },
    async generateEmbedding() {
      calls.push("embed");
      return { embedding: [1], detectionScore: 0.9, bbox: [1, 2, 3, 4], model: "m" };
    },
  } as unknown as FaceApi;
  const store = new MemoryIdempotencyStore();
  const keyed = withIdempotency(api, store, probe, { pollMs: 5 });
  return { users, calls, store, keyed, probe, failNext: (e: FaceError) => (failAfterApply = e) };
}

const enroll = (userId: string) => ({ companyId: "acme", userId, faceId: "f1", image: new Uint8Array([1, 2, 3]) });

describe("idempotent writes", () => {
  test("a retry with the key gets the first answer; without a key the write runs again", async () => {
    const f = fixture();
    f.users.add("bob");
    expect(await f.keyed.deleteUser({ companyId: "acme", userId: "bob" }, { idempotencyKey: "k1" })).toEqual({ deleted: true, revision: 1 });
    expect(await f.keyed.deleteUser({ companyId: "acme", userId: "bob" }, { idempotencyKey: "k1" })).toEqual({ deleted: true, revision: 1 });
    expect(f.calls).toEqual(["delete bob"]);
    expect((await f.keyed.deleteUser({ companyId: "acme", userId: "bob" })).deleted).toBe(false);
  });

  test("an enrollment's retry answers its own 201, never USER_EXISTS; a FaceError is replayed too", async () => {
    const f = fixture();
    const first = await f.keyed.createUser(enroll("ann"), { idempotencyKey: "e1" });
    expect(await f.keyed.createUser(enroll("ann"), { idempotencyKey: "e1" })).toEqual(first);
    // Another key for the same user: a new request, which finds the user there.
    expect(await codeOf(f.keyed.createUser(enroll("ann"), { idempotencyKey: "e2" }))).toBe("USER_EXISTS");
    f.users.delete("ann");
    // e2's first answer was USER_EXISTS: its retries say so, although the user is gone now.
    expect(await codeOf(f.keyed.createUser(enroll("ann"), { idempotencyKey: "e2" }))).toBe("USER_EXISTS");
    expect(f.calls).toEqual(["create ann", "create ann"]);
  });

  test("the same key with other arguments is IDEMPOTENCY_KEY_REUSED and runs nothing", async () => {
    const f = fixture();
    await f.keyed.createUser(enroll("ann"), { idempotencyKey: "k" });
    const other = { ...enroll("ann"), image: new Uint8Array([9]) };
    expect(await codeOf(f.keyed.createUser(other, { idempotencyKey: "k" }))).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(f.calls).toEqual(["create ann"]);
    // Scoped per operation and company: the key is free for another operation or company.
    expect((await f.keyed.deleteUser({ companyId: "acme", userId: "ann" }, { idempotencyKey: "k" })).deleted).toBe(true);
    expect(await codeOf(f.keyed.createUser({ ...enroll("zed"), companyId: "beta" }, { idempotencyKey: "k" }))).toBe("no error");
  });

  test("concurrent duplicates: one runs, the other waits for its answer", async () => {
    const f = fixture({ slowMs: 60 });
    const [a, b] = await Promise.all([
      f.keyed.createUser(enroll("cy"), { idempotencyKey: "dup" }),
      f.keyed.createUser(enroll("cy"), { idempotencyKey: "dup" }),
    ]);
    expect(a).toEqual(b);
    expect(f.calls).toEqual(["create cy"]);
  });

  test("a duplicate waits no longer than its own timeout: UNAVAILABLE, then the answer on a later retry", async () => {
    const f = fixture({ slowMs: 200 });
    const first = f.keyed.deleteUser({ companyId: "acme", userId: "x" }, { idempotencyKey: "slow" });
    await Bun.sleep(10);
    expect(await codeOf(f.keyed.deleteUser({ companyId: "acme", userId: "x" }, { idempotencyKey: "slow", timeoutMs: 30 }))).toBe("UNAVAILABLE");
    await first;
    expect(await f.keyed.deleteUser({ companyId: "acme", userId: "x" }, { idempotencyKey: "slow" })).toEqual(await first);
  });

  test("outcome unknown (the delete applied, then UNAVAILABLE): the retry answers deleted: true", async () => {
    const f = fixture();
    f.users.add("dan");
    f.failNext(new UnavailableError("no JetStream leader acknowledged the write"));
    expect(await codeOf(f.keyed.deleteUser({ companyId: "acme", userId: "dan" }, { idempotencyKey: "d" }))).toBe("UNAVAILABLE");
    expect(f.users.has("dan")).toBe(false);
    expect(await f.keyed.deleteUser({ companyId: "acme", userId: "dan" }, { idempotencyKey: "d" })).toEqual({ deleted: true, revision: 1 });
  });

  test("a delete of someone absent stays deleted: false on its takeover", async () => {
    const f = fixture();
    f.failNext(new UnavailableError("lost"));
    expect(await codeOf(f.keyed.deleteUser({ companyId: "acme", userId: "nobody" }, { idempotencyKey: "n" }))).toBe("UNAVAILABLE");
    expect((await f.keyed.deleteUser({ companyId: "acme", userId: "nobody" }, { idempotencyKey: "n" })).deleted).toBe(false);
  });

  test("outcome unknown (the enrollment applied): the retry answers 201 with the face, not USER_EXISTS", async () => {
    const f = fixture();
    f.failNext(new FaceError("TIMEOUT", "took too long"));
    expect(await codeOf(f.keyed.createUser(enroll("eve"), { idempotencyKey: "t" }))).toBe("TIMEOUT");
    const retry = await f.keyed.createUser(enroll("eve"), { idempotencyKey: "t" });
    expect(retry).toMatchObject({ companyId: "acme", userId: "eve", faceId: "f1", embedding: [1], bbox: [1, 2, 3, 4], revision: 7 });
    // The retry ran the write again, met the user, finished/checked the face and recomputed the answer.
    expect(f.calls).toEqual(["create eve", "create eve", "addFace", "embed"]);
    // And that answer is now the one every further retry gets.
    expect(await f.keyed.createUser(enroll("eve"), { idempotencyKey: "t" })).toEqual(retry);
  });

  test("a takeover whose gallery has not applied the dead owner's user yet waits for it (USER_NOT_FOUND is 'not yet')", async () => {
    let lag = 2;
    const calls: string[] = [];
    const api = {
      async createUser() {
        calls.push("create");
        throw new FaceError("USER_EXISTS", "exists in the store");
      },
      async addFace(req: { companyId: string; userId: string; faceId: string }) {
        calls.push("addFace");
        if (lag-- > 0) throw new FaceError("USER_NOT_FOUND", "not in this gallery yet");
        return { ...req, embedding: [1], detectionScore: 0.9, bbox: [1, 2, 3, 4], model: "m", revision: 9 };
      },
    } as unknown as FaceApi;
    const store = new MemoryIdempotencyStore();
    const probe: GalleryProbe = { hasCompany: () => true, hasUser: () => false, hasFace: () => false };
    const req = enroll("fay");
    await store.create(recordKey("createUser", "acme", "lag"), {
      state: "pending",
      hash: requestHash("createUser", req),
      owner: "dead",
      leaseUntil: 0,
      existedBefore: false,
    });
    const r = await withIdempotency(api, store, probe).createUser(req, { idempotencyKey: "lag" });
    expect(r.revision).toBe(9);
    expect(calls).toEqual(["create", "addFace", "addFace", "addFace"]);
  });

  test("an owner that is gone (no ping answer) is taken over at once", async () => {
    const f = fixture();
    f.users.add("gus");
    const real = withIdempotency(
      { deleteUser: async () => ({ deleted: false }) } as unknown as FaceApi,
      Object.assign(f.store, { ownerAlive: async (o: string) => o !== "dead" }),
      f.probe,
    );
    // A pending record left by a dead worker, its lease a minute away: the target existed before it ran.
    const rk = recordKey("deleteUser", "acme", "g");
    await f.store.create(rk, {
      state: "pending",
      hash: requestHash("deleteUser", { companyId: "acme", userId: "gus" }),
      owner: "dead",
      leaseUntil: Date.now() + 60_000,
      existedBefore: true,
    });
    const started = Date.now();
    expect((await real.deleteUser({ companyId: "acme", userId: "gus" }, { idempotencyKey: "g" })).deleted).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("keys expire after the TTL, and the store keeps at most maxKeys", async () => {
    let now = 1000;
    const store = new MemoryIdempotencyStore({ ttlMs: 100, maxKeys: 2, now: () => now });
    const rec = { state: "done" as const, hash: "h", answer: { ok: true as const, result: 1 }, at: 0 };
    await store.create("a", rec);
    now += 100;
    expect(await store.get("a")).toBeNull();
    await store.create("b", rec);
    await store.create("c", rec);
    await store.create("d", rec);
    expect(store.size).toBe(2);
    expect(await store.get("b")).toBeNull();
  });

  test("requestHash: key order does not matter, bytes do", () => {
    expect(requestHash("op", { a: 1, b: "x" })).toBe(requestHash("op", { b: "x", a: 1 }));
    expect(requestHash("op", { i: new Uint8Array([1]) })).not.toBe(requestHash("op", { i: new Uint8Array([2]) }));
    expect(requestHash("op", { a: 1 })).not.toBe(requestHash("op2", { a: 1 }));
  });
});
