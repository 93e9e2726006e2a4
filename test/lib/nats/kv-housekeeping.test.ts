/** Delete-marker housekeeping of KvGalleryStore, on a real nats-server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { StoreEvent } from "../../../lib/core/internal.ts";
import { DEFAULT_MARKER_RETENTION_MS, loadNatsConfig } from "../../../lib/nats/config.ts";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { faceKey } from "../../../lib/nats/keys.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

const markerRetentionFromEnv = (env: Record<string, string>) => loadNatsConfig(env).markerRetentionMs;

let server: NatsServer;
let nc: NatsConnection;
let seq = 0;
const newBucket = () => `hk${process.pid}_${++seq}`;

const face = (userId: string, faceId: string) => ({
  companyId: "acme",
  userId,
  faceId,
  embedding: new Float32Array([1, 0, 0, 0]),
  model: "m",
});

/** Follows a store; `state()` is the live view (faces by key, users), `until(rev)` waits for a revision. */
async function follow(store: KvGalleryStore) {
  const events: StoreEvent[] = [];
  const faces = new Set<string>();
  const users = new Set<string>();
  const waiters: Array<{ rev: number; resolve: () => void }> = [];
  const stop = await store.watch((e) => {
    events.push(e);
    if (e.type === "face.put") faces.add(`${e.face.userId}/${e.face.faceId}`);
    if (e.type === "face.delete") faces.delete(`${e.userId}/${e.faceId}`);
    if (e.type === "user.put") users.add(e.userId);
    if (e.type === "user.delete") {
      users.delete(e.userId);
      for (const f of [...faces]) if (f.startsWith(`${e.userId}/`)) faces.delete(f);
    }
    for (const w of [...waiters]) if (e.revision >= w.rev) w.resolve();
  });
  const until = (rev: number) =>
    new Promise<void>((resolve, reject) => {
      if (events.some((e) => e.revision >= rev)) return resolve();
      const t = setTimeout(() => reject(new Error(`revision ${rev} not seen`)), 5000);
      waiters.push({ rev, resolve: () => (clearTimeout(t), resolve()) });
    });
  const last = () => events.at(-1)?.revision ?? 0;
  return { events, faces, users, stop, until, last };
}

async function streamMessages(bucket: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(`KV_${bucket}`)).state.messages;
}

describe("NATS_KV_MARKER_RETENTION_MS", () => {
  test("default, explicit, zero and invalid values", () => {
    expect(markerRetentionFromEnv({})).toBe(DEFAULT_MARKER_RETENTION_MS);
    expect(markerRetentionFromEnv({ NATS_KV_MARKER_RETENTION_MS: "" })).toBe(DEFAULT_MARKER_RETENTION_MS);
    expect(markerRetentionFromEnv({ NATS_KV_MARKER_RETENTION_MS: "60000" })).toBe(60_000);
    expect(markerRetentionFromEnv({ NATS_KV_MARKER_RETENTION_MS: "0" })).toBe(0);
    expect(() => markerRetentionFromEnv({ NATS_KV_MARKER_RETENTION_MS: "-1" })).toThrow(/non-negative/);
    expect(() => markerRetentionFromEnv({ NATS_KV_MARKER_RETENTION_MS: "1h" })).toThrow(/non-negative/);
  });
});

describeWithTools(["nats-server"], "delete-marker housekeeping", () => {
  beforeAll(async () => {
    server = await startTestNatsServer();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.cleanup();
  });

  test("markers are purged; live watchers saw every delete; a later worker replays the right state at the bucket's revision", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
    await store.createCompany("acme");
    await store.createUser("acme", "keep");
    await store.addFace(face("keep", "k1"));
    const live = await follow(store);
    // Enrol and delete 3 users x 20 faces, and delete a single face of the kept user.
    for (const u of ["a", "b", "c"]) {
      await store.createUser("acme", u);
      for (let i = 0; i < 20; i++) await store.addFace(face(u, `f${i}`));
    }
    await store.addFace(face("keep", "k2"));
    let last = 0;
    for (const u of ["a", "b", "c"]) last = (await store.deleteUser("acme", u)).revision;
    last = Math.max(last, (await store.deleteFace("acme", "keep", "k2")).revision);
    await live.until(last);
    const deletes = live.events.filter((e) => e.type === "face.delete" || e.type === "user.delete");
    expect(deletes.length).toBe(3 * 20 + 3 + 1);

    // 3 live records + 64 markers.
    expect(await streamMessages(bucket)).toBe(3 + 64);
    const result = await store.purgeDeleteMarkers(0);
    expect(result).toEqual({ purged: 64, kept: 0 });
    expect(await streamMessages(bucket)).toBe(3);
    expect(await store.revision()).toBe(last); // the stream's last sequence survives the purge
    expect(await store.purgeDeleteMarkers(0)).toEqual({ purged: 0, kept: 0 }); // idempotent

    // A worker started now (it was down during the deletes) replays only what is alive, and its
    // revision ends at the bucket's although the last entries were purged markers.
    const other = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
    const later = await follow(other);
    expect([...later.faces].sort()).toEqual(["keep/k1"]);
    expect([...later.users].sort()).toEqual(["keep"]);
    expect(later.events.at(-1)).toEqual({ revision: last, type: "sync" });
    // Same view as the live watcher.
    expect([...live.faces].sort()).toEqual(["keep/k1"]);

    // create-if-absent works after the purge, and both watchers see it.
    const again = await other.createUser("acme", "a");
    expect(again.created).toBe(true);
    expect(again.revision).toBeGreaterThan(last);
    const f = await store.addFace(face("a", "f0"));
    expect(f.created).toBe(true);
    await live.until(f.revision);
    await later.until(f.revision);
    expect(live.faces.has("a/f0") && later.faces.has("a/f0")).toBe(true);
    live.stop();
    later.stop();
    store.close();
    other.close();
  });

  test("markers younger than the retention are kept", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
    await store.createCompany("acme");
    await store.createUser("acme", "u");
    await store.deleteUser("acme", "u");
    expect(await store.purgeDeleteMarkers(60_000)).toEqual({ purged: 0, kept: 1 });
    expect(await streamMessages(bucket)).toBe(2);
    store.close();
  });

  test("the guarded purge never removes a key re-created after its marker (the listing/purge race)", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
    await store.createCompany("acme");
    await store.createUser("acme", "u");
    await store.addFace(face("u", "f"));
    const marker = (await store.deleteFace("acme", "u", "f")).revision;
    // Housekeeping listed the marker here; meanwhile the face is enrolled again.
    const put = await store.addFace(face("u", "f"));
    expect(put.created).toBe(true);
    const jsm = await jetstreamManager(nc);
    const subject = `$KV.${bucket}.${faceKey("acme", "u", "f")}`;
    // What purgeDeleteMarkers sends for that listed marker: nothing at or after the put goes.
    const r = await jsm.streams.purge(`KV_${bucket}`, { filter: subject, seq: marker + 1 });
    expect(r.purged).toBe(0);
    const reader = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
    const view = await follow(reader);
    expect(view.faces.has("u/f")).toBe(true);
    // The library's purgeDeletes would send keep: 0 and lose the put: the reason for the guard.
    const lossy = await jsm.streams.purge(`KV_${bucket}`, { filter: subject, keep: 0 });
    expect(lossy.purged).toBe(1);
    view.stop();
    reader.close();
    store.close();
  });

  test("periodic housekeeping purges old markers on its own while a running watcher keeps every delete", async () => {
    const bucket = newBucket();
    const store = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 200, housekeepingIntervalMs: 100 });
    await store.createCompany("acme");
    await store.createUser("acme", "u");
    const live = await follow(store);
    let last = 0;
    for (let i = 0; i < 10; i++) {
      await store.addFace(face("u", `f${i}`));
      last = (await store.deleteFace("acme", "u", `f${i}`)).revision;
    }
    await live.until(last);
    expect(live.events.filter((e) => e.type === "face.delete").length).toBe(10);
    // A generous deadline: the condition is what is awaited; a loaded machine only makes it later.
    const deadline = Date.now() + 30_000;
    while ((await streamMessages(bucket)) > 2 && Date.now() < deadline) await Bun.sleep(50);
    expect(await streamMessages(bucket)).toBe(2);
    expect(live.faces.size).toBe(0);
    // Deletes after a housekeeping round still reach the running watcher.
    await store.addFace(face("u", "g"));
    const d = await store.deleteUser("acme", "u");
    await live.until(d.revision);
    expect(live.users.has("u")).toBe(false);
    expect(live.faces.size).toBe(0);
    live.stop();
    store.close();
  });
});
