import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { FaceError, type StoreEvent } from "../../../lib/core/internal.ts";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { decodeId, encodeId, faceKey, parseKey } from "../../../lib/nats/keys.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let server: NatsServer;
let nc: NatsConnection;
let bucketSeq = 0;
const newBucket = () => `t${process.pid}_${++bucketSeq}`;

function unitVector(dim: number, seed: number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = Math.sin(seed * 31 + i * 7.3);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function face(companyId: string, userId: string, faceId: string, seed = 1) {
  return { companyId, userId, faceId, embedding: unitVector(8, seed), model: "test-model" };
}

/** Collects events; `until(rev)` waits for a revision. */
function collector() {
  const events: StoreEvent[] = [];
  const waiters: Array<{ rev: number; resolve: () => void }> = [];
  const listener = (e: StoreEvent) => {
    events.push(e);
    for (const w of [...waiters]) if (e.revision >= w.rev) w.resolve();
  };
  const until = (rev: number) =>
    new Promise<void>((resolve, reject) => {
      if (events.some((e) => e.revision >= rev)) return resolve();
      const t = setTimeout(() => reject(new Error(`revision ${rev} not seen; got ${JSON.stringify(events.map((e) => [e.revision, e.type]))}`)), 5000);
      waiters.push({ rev, resolve: () => (clearTimeout(t), resolve()) });
    });
  return { events, listener, until };
}

describe("keys", () => {
  test("ids with dots, spaces, unicode and wildcards round-trip and stay one token", () => {
    for (const id of ["a.b", "x y", "ü😀", "*", ">", "a/b=c", "-_-"]) {
      const token = encodeId(id);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeId(token)).toBe(id);
    }
    expect(parseKey(faceKey("c.1", "u 2", "f>3"))).toEqual({ kind: "face", companyId: "c.1", userId: "u 2", faceId: "f>3" });
    expect(parseKey("x.y")).toBeNull();
  });
});

describeWithTools(["nats-server"], "KvGalleryStore", () => {
  beforeAll(async () => {
    server = await startTestNatsServer();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.cleanup();
  });

  test("writes return increasing revisions; create-if-absent; deletes report absence", async () => {
    const store = await KvGalleryStore.open({ nc, bucket: newBucket() });
    expect(await store.revision()).toBe(0);
    const c1 = await store.createCompany("acme.inc");
    expect(c1.created).toBe(true);
    const c2 = await store.createCompany("acme.inc");
    expect(c2).toEqual({ created: false, revision: c1.revision });
    const u = await store.createUser("acme.inc", "jane doe");
    expect(u.created).toBe(true);
    expect(u.revision).toBeGreaterThan(c1.revision);
    expect((await store.createUser("acme.inc", "jane doe")).created).toBe(false);
    const f = await store.addFace(face("acme.inc", "jane doe", "f1"));
    expect(f.created).toBe(true);
    expect((await store.addFace(face("acme.inc", "jane doe", "f1", 2))).created).toBe(false);
    expect(await store.revision()).toBe(f.revision);
    expect((await store.deleteFace("acme.inc", "jane doe", "nope")).deleted).toBe(false);
    const d = await store.deleteFace("acme.inc", "jane doe", "f1");
    expect(d.deleted).toBe(true);
    expect(d.revision).toBeGreaterThan(f.revision);
    expect((await store.deleteFace("acme.inc", "jane doe", "f1")).deleted).toBe(false);
    expect((await store.deleteUser("acme.inc", "ghost")).deleted).toBe(false);
    expect((await store.deleteCompany("nobody")).deleted).toBe(false);
    await store.close();
  });

  test("watch replays the current state as puts in revision order, a sync, then changes in order", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket });
    await store.createCompany("a");
    await store.createUser("a", "u1");
    await store.addFace(face("a", "u1", "f1", 1));
    await store.createUser("a", "u2");
    await store.addFace(face("a", "u2", "f2", 2));
    const gone = await store.deleteUser("a", "u2");

    const c = collector();
    const stop = await store.watch(c.listener);
    // Resolved after the replay: puts of the live records only, then sync at the bucket's revision.
    expect(c.events.map((e) => e.type)).toEqual(["company.put", "user.put", "face.put", "sync"]);
    expect(c.events.at(-1)!.revision).toBe(gone.revision);
    const revs = c.events.map((e) => e.revision);
    expect([...revs].sort((x, y) => x - y)).toEqual(revs);
    const put = c.events[2] as Extract<StoreEvent, { type: "face.put" }>;
    expect(put.face.faceId).toBe("f1");
    expect(put.face.model).toBe("test-model");
    expect(Array.from(put.face.embedding)).toEqual(Array.from(unitVector(8, 1)));

    // Changes through another connection reach this watcher in order.
    const nc2 = await connect({ servers: server.url });
    const other = await KvGalleryStore.open({ nc: nc2, bucket });
    const w = await other.addFace(face("a", "u1", "f3", 3));
    const del = await other.deleteCompany("a");
    await c.until(del.revision);
    const tail = c.events.filter((e) => e.revision > gone.revision).map((e) => e.type);
    // Cascade order: faces, then users, then the company.
    expect(tail).toEqual(["face.put", "face.delete", "face.delete", "user.delete", "company.delete"]);
    expect(c.events.find((e) => e.revision === w.revision)?.type).toBe("face.put");
    stop();
    await other.close();
    await nc2.close();
    await store.close();
  });

  test("empty bucket: watch resolves at once; stop() ends delivery", async () => {
    const store = await KvGalleryStore.open({ nc, bucket: newBucket() });
    const c = collector();
    const stop = await store.watch(c.listener);
    expect(c.events).toEqual([]);
    const r = await store.createCompany("x");
    await c.until(r.revision);
    stop();
    await store.createCompany("y");
    await Bun.sleep(200);
    expect(c.events.map((e) => e.type)).toEqual(["company.put"]);
    await store.close();
  });

  test("concurrent create of one user through two connections: exactly one wins", async () => {
    const bucket = newBucket();
    const nc2 = await connect({ servers: server.url });
    const a = await KvGalleryStore.open({ nc, bucket });
    const b = await KvGalleryStore.open({ nc: nc2, bucket });
    await a.createCompany("co");
    for (let i = 0; i < 10; i++) {
      const results = await Promise.all([a.createUser("co", `u${i}`), b.createUser("co", `u${i}`)]);
      expect(results.filter((r) => r.created).length).toBe(1);
      const deletes = await Promise.all([a.deleteUser("co", `u${i}`), b.deleteUser("co", `u${i}`)]);
      expect(deletes.filter((r) => r.deleted).length).toBe(1);
    }
    await a.close();
    await b.close();
    await nc2.close();
  });

  test("a child whose parent vanished is rolled back and reported", async () => {
    const store = await KvGalleryStore.open({ nc, bucket: newBucket() });
    await store.createCompany("co");
    await expect(store.addFace(face("co", "nobody", "f"))).rejects.toMatchObject({ code: "USER_NOT_FOUND" });
    await expect(store.createUser("gone", "u")).rejects.toBeInstanceOf(FaceError);
    const c = collector();
    await store.watch(c.listener);
    expect(c.events.map((e) => e.type)).toEqual(["company.put", "sync"]);
    await store.close();
  });

  test("orphans written behind the store's back never reach a listener as puts", async () => {
    const bucket = newBucket();
    const warnings: string[] = [];
    const store = await KvGalleryStore.open({ nc, bucket, onWarning: (message) => warnings.push(message) });
    const kv = await new Kvm(nc).open(bucket);
    const c = collector();
    await store.watch(c.listener);
    const rev = await kv.put(faceKey("co", "u", "f"), JSON.stringify({ companyId: "co", userId: "u", faceId: "f", model: "m", dim: 1, embedding: "AACAPw" }));
    await c.until(rev);
    expect(c.events.map((e) => e.type)).toEqual(["face.delete"]);
    // Invalid values are skipped the same way (and warned about).
    await store.createCompany("co");
    const u = await store.createUser("co", "u");
    const bad = await kv.put(faceKey("co", "u", "g"), "{not json");
    await c.until(bad);
    expect(c.events.filter((e) => e.revision > u.revision).map((e) => e.type)).toEqual(["face.delete"]);
    expect(warnings.some((w) => w.startsWith(`invalid face value at ${faceKey("co", "u", "g")} revision ${bad}`))).toBe(true);
    await store.close();
  });

  test("watch survives a nats-server restart; acknowledged writes survive it", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket, timeoutMs: 1000 });
    const c = collector();
    await store.watch(c.listener);
    const before = await store.createCompany("before");
    await c.until(before.revision);
    // A watcher that has seen nothing yet when the server goes away must not miss later writes.
    const quietBucket = newBucket();
    const quiet = await KvGalleryStore.open({ nc, bucket: quietBucket, timeoutMs: 1000 });
    const cq = collector();
    await quiet.watch(cq.listener);
    await server.restart();
    // The client reconnects by itself; the first write after it may need a retry while JetStream starts.
    let after: { revision: number } | undefined;
    for (let i = 0; i < 50 && !after; i++) {
      after = await store.createCompany("after").catch(async () => (await Bun.sleep(100), undefined));
    }
    expect(after).toBeDefined();
    await c.until(after!.revision);
    expect(c.events.map((e) => e.type)).toEqual(["company.put", "company.put"]);
    const nc2 = await connect({ servers: server.url });
    const writer = await KvGalleryStore.open({ nc: nc2, bucket: quietBucket, timeoutMs: 1000 });
    const q = await writer.createCompany("q");
    await cq.until(q.revision);
    expect(cq.events.map((e) => e.type)).toEqual(["company.put"]);
    writer.close();
    quiet.close();
    await nc2.close();
    // A fresh watcher sees both (the first was durable across the restart).
    const c2 = collector();
    await store.watch(c2.listener);
    expect(c2.events.filter((e) => e.type === "company.put").map((e) => (e as { companyId: string }).companyId)).toEqual([
      "before",
      "after",
    ]);
    await store.close();
  }, 30_000);
});
