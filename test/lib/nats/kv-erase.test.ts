/**
 * Erasure erases in NATS mode too: after deleteUser / deleteFace / deleteCompany on the KV store, a
 * face's value (its embedding, base64 in the entry) is in none of nats-server's JetStream files; it is
 * checked to be there before. A real nats-server with its file store.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { face } from "../../helpers/store-contract.ts";
import { describeWithTools } from "../../helpers/tools.ts";

/** The value's text for the embedding's first 30 bytes (base64 of whole 3-byte groups: position-independent of what follows). */
function probe(embedding: Float32Array): string {
  return Buffer.from(embedding.buffer, embedding.byteOffset, 30).toString("base64");
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describeWithTools(["nats-server"], "KV store: deleted embeddings leave nats-server's disk", () => {
  const nats = useNatsServer();
  const onDisk = (text: string) => {
    const needle = Buffer.from(text);
    return filesUnder(join(nats.server.storeDir, "js")).filter((f) => readFileSync(f).includes(needle));
  };

  test("deleteUser, deleteFace and deleteCompany overwrite the faces' values in the stream files", async () => {
    const nc: NatsConnection = nats.track(await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }));
    const store = nats.track(await KvGalleryStore.open({ nc, bucket: "erase", timeoutMs: 5000 }));
    await store.createCompany("acme");
    await store.createCompany("beta");
    const faces = {
      ann1: face("acme", "ann", "f1", 512),
      ann2: face("acme", "ann", "f2", 512),
      bob1: face("acme", "bob", "f1", 512),
      bob2: face("acme", "bob", "f2", 512),
      carl: face("beta", "carl", "c1", 512),
    };
    for (const f of Object.values(faces)) {
      await store.createUser(f.companyId, f.userId);
      await store.addFace(f);
    }
    const probes = Object.fromEntries(Object.entries(faces).map(([k, f]) => [k, probe(f.embedding)])) as Record<keyof typeof faces, string>;
    for (const p of Object.values(probes)) expect(onDisk(p).length).toBeGreaterThan(0);

    expect((await store.deleteUser("acme", "ann")).deleted).toBe(true);
    expect(onDisk(probes.ann1)).toEqual([]);
    expect(onDisk(probes.ann2)).toEqual([]);
    expect(onDisk(probes.bob1).length).toBeGreaterThan(0); // only what was deleted

    expect((await store.deleteFace("acme", "bob", "f2")).deleted).toBe(true);
    expect((await store.deleteFace("acme", "bob", "f2")).deleted).toBe(false);
    expect(onDisk(probes.bob2)).toEqual([]);

    expect((await store.deleteCompany("acme")).deleted).toBe(true);
    expect(onDisk(probes.bob1)).toEqual([]);
    expect(onDisk(probes.carl).length).toBeGreaterThan(0);

    // and after the server restarts (recovery from its files) nothing comes back
    await nats.server.restart();
    for (const k of ["ann1", "ann2", "bob1", "bob2"] as const) expect(onDisk(probes[k])).toEqual([]);
    const replay: string[] = [];
    let again: KvGalleryStore | undefined;
    for (let i = 0; !again; i++) {
      again = await KvGalleryStore.open({ nc, bucket: "erase", timeoutMs: 2000 }).catch((err) => {
        if (i > 50) throw err;
        return Bun.sleep(100).then(() => undefined);
      });
    }
    nats.track(again);
    const stop = await again.watch((e) => e.type === "face.put" && replay.push(`${e.face.companyId}/${e.face.userId}/${e.face.faceId}`));
    stop();
    expect(replay).toEqual(["beta/carl/c1"]);
  }, 60_000);
});
