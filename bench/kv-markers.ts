/**
 * Delete-marker housekeeping of the NATS KV gallery bucket: stream size and a fresh worker's replay
 * time before and after purging the markers of a deleted company (200 users x 25 faces).
 *
 *   bun run bench:kv-markers [-- --json bench/results/kv-markers.json]
 */
import { writeFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { KvGalleryStore } from "../lib/nats/mod.ts";
import { startTestNatsServer } from "../test/helpers/nats-server.ts";
const server = await startTestNatsServer();
const nc = await connect({ servers: server.url });
const jsm = await jetstreamManager(nc);
const bucket = "measure";
const store = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
const U = 200, F = 25, dim = 512;
const emb = new Float32Array(dim).fill(0.04);
const users = Array.from({ length: U }, (_, i) => ({ companyId: "acme", userId: `u${i}` }));
const faces = users.flatMap((u) => Array.from({ length: F }, (_, j) => ({ ...u, faceId: `f${j}`, embedding: emb, model: "m" })));
await store.bulkLoad({ companies: ["acme", "keep"], users: [...users, { companyId: "keep", userId: "k" }], faces: [...faces, { companyId: "keep", userId: "k", faceId: "f", embedding: emb, model: "m" }] });
const live = { deletes: 0 };
const stopLive = await store.watch((e) => { if (e.type.endsWith(".delete")) live.deletes++; });
await store.deleteCompany("acme");
const info = async () => (await jsm.streams.info(`KV_${bucket}`)).state;
async function replay() {
  const s = await KvGalleryStore.open({ nc, bucket, markerRetentionMs: 0 });
  const t = performance.now(); let faces = 0;
  const stop = await s.watch((e) => { if (e.type === "face.put") faces++; });
  const ms = performance.now() - t; stop(); s.close(); return { ms: +ms.toFixed(1), faces };
}
await Bun.sleep(500);
const before = await info(); const r1 = [await replay(), await replay(), await replay()];
const t = performance.now(); const res = await store.purgeDeleteMarkers(0); const purgeMs = performance.now() - t;
const after = await info(); const r2 = [await replay(), await replay(), await replay()];
console.log(JSON.stringify({ liveDeletes: live.deletes, before: { messages: before.messages, bytes: before.bytes, last_seq: before.last_seq }, replayBefore: r1, purge: res, purgeMs: +purgeMs.toFixed(1), after: { messages: after.messages, bytes: after.bytes, last_seq: after.last_seq }, replayAfter: r2 }, null, 1));
const result = { liveDeletes: live.deletes, before: { messages: before.messages, bytes: before.bytes, last_seq: before.last_seq }, replayBefore: r1, purge: res, purgeMs: +purgeMs.toFixed(1), after: { messages: after.messages, bytes: after.bytes, last_seq: after.last_seq }, replayAfter: r2 };
console.log(JSON.stringify(result, null, 1));
const jsonAt = process.argv.indexOf("--json");
if (jsonAt > 0 && process.argv[jsonAt + 1]) writeFileSync(process.argv[jsonAt + 1], `${JSON.stringify(result, null, 2)}\n`);
stopLive();
store.close();
await nc.close();
await server.cleanup();
