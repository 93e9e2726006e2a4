/**
 * A real 3-node NATS cluster (three nats-server processes, routes, JetStream on each, the KV bucket
 * with 3 replicas) under a stream of enrolments and recognitions through the gateway client:
 * - SIGKILL of the node that the gateway and one worker are connected to: every acknowledged write
 *   is there afterwards (gateway and every worker), both reconnect to the surviving nodes, and
 *   recognition continues; the node restarts and catches up (its replica current, lag 0).
 * - Quorum loss (two nodes down): writes are refused with a clear UNAVAILABLE, reads go on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { FaceError } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { startNatsCluster, type NatsCluster } from "../../../lib/nats/nats-cluster.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";

let cluster: NatsCluster;
let engine: FaceEngine;
let client: FaceClient;
/** The node killed mid-stream (the bucket's stream leader) and the one worker 2 is on. */
let victim = 0;
let other = 1;
const workers: RunningWorker[] = [];
/** Worker warnings (e.g. a live KV watch restarted by its watchdog), shown when a test fails. */
const warnings: string[] = [];
const quiet = (level: "info" | "warn" | "error", message: string) => {
  if (level !== "info") warnings.push(message);
};

/** People with at least two LFW photos: enrolled with the first, recognised with the second. */
let people: string[] = [];
const photo = (p: string, i: number) => readDataset("lfw-dev/images", p, listDataset("lfw-dev/images", p)[i]!);

const portOf = (url: string) => Number(new URL(url.replace(/^nats:/, "http:")).port);
const serverPort = (w: { nc: { getServer(): string } }) => Number(w.nc.getServer().split(":").pop());

async function streamCluster(url: string) {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3000 });
    return (await jsm.streams.info("KV_facegate")).cluster!;
  } finally {
    await nc.close();
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}

describeWithTools(["nats-server"], "3-node NATS cluster: a node SIGKILLed under load, quorum loss", () => {
  beforeAll(async () => {
    people = listDataset("lfw-dev/images")
      .filter((p) => listDataset("lfw-dev/images", p).length >= 2)
      .slice(0, 400);
    cluster = await startNatsCluster({ nodes: 3, bin: toolPath("nats-server") });
    // One engine thread shared by both in-process workers; this thread stays free for NATS.
    engine = await createEngine({ workers: 1 });
    // The bucket first, to know its stream leader: that node is the one killed below, with the
    // gateway and worker 1 on it (the hardest case: stream leader election and client failover at once).
    const nc = await connect({ servers: cluster.urls[0]! });
    (await KvGalleryStore.open({ nc, replicas: 3 })).close();
    await nc.close();
    victim = cluster.names.indexOf((await streamCluster(cluster.urls[0]!)).leader!);
    other = (victim + 1) % 3;
    // Each process is given ONE node's URL and learns the others from the cluster.
    for (const [i, id] of [[victim, "w1"], [other, "w2"]] as const) {
      workers.push(
        await startFaceWorker({ engine, env: { NATS_URL: cluster.urls[i]! }, service: { workerId: id }, nats: { replicas: 3 }, log: quiet }),
      );
    }
    client = await FaceClient.connect({ servers: cluster.urls[victim]!, env: {}, retries: 3 });
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    for (const w of workers.splice(0)) await w.close().catch(() => undefined);
    await engine?.dispose();
    await cluster?.cleanup();
  }, 60_000);

  test("the bucket has 3 replicas; the gateway and worker 1 are on the leader's node, worker 2 on another", async () => {
    const info = await streamCluster(cluster.urls[other]!);
    expect(info.replicas?.length).toBe(2);
    expect([info.leader, ...info.replicas!.map((r) => r.name)].sort()).toEqual(["n1", "n2", "n3"]);
    expect(info.leader).toBe(cluster.names[victim]!);
    expect(serverPort(client)).toBe(portOf(cluster.urls[victim]!));
    expect(serverPort(workers[0]!)).toBe(portOf(cluster.urls[victim]!));
    expect(serverPort(workers[1]!)).toBe(portOf(cluster.urls[other]!));
  });

  test("SIGKILL of a node mid-stream: acknowledged writes kept, clients fail over, recognition goes on, the node catches up", async () => {
    await client.createCompany({ companyId: "acme" });
    const acked: Array<{ userId: string; revision: number; afterKill: boolean }> = [];
    const writeErrors: string[] = [];
    const reads = { ok: 0, okAfterKill: 0, failed: [] as string[] };
    let killedAt = 0;
    let stop = false;

    const enrol = (async () => {
      for (let i = 0; !stop && i < people.length; i++) {
        const userId = people[i]!;
        try {
          const r = await client.createUser({ companyId: "acme", userId, faceId: "f1", image: photo(userId, 0) });
          acked.push({ userId, revision: r.revision!, afterKill: killedAt > 0 });
        } catch (e) {
          // Unknown outcome (the node died under the write) or refused during the election: allowed,
          // as long as what WAS acknowledged survives.
          writeErrors.push(`${userId}: ${(e as FaceError).code} ${(e as Error).message}`);
        }
      }
    })();
    const recognise = (async () => {
      while (!stop) {
        const known = acked;
        if (known.length === 0) {
          await Bun.sleep(50);
          continue;
        }
        const who = known[Math.floor(Math.random() * known.length)]!.userId;
        try {
          const r = await client.recognizeFace({ companyId: "acme", image: photo(who, 1) });
          reads.ok++;
          if (killedAt > 0) reads.okAfterKill++;
          // A second photo of the same person: usually recognised; a miss is not a cluster failure.
          expect(r.bbox).not.toBeNull();
        } catch (e) {
          reads.failed.push(`${(e as FaceError).code}: ${(e as Error).message}`);
        }
      }
    })();

    await until("3 acknowledged enrolments", () => acked.length >= 3, 60_000);
    await cluster.nodes[victim]!.kill();
    killedAt = Date.now();
    await until("5 acknowledged enrolments after the kill", () => acked.filter((a) => a.afterKill).length >= 5, 60_000);
    await until("recognitions after the kill", () => reads.okAfterKill >= 5, 30_000);
    stop = true;
    await Promise.all([enrol, recognise]);

    // The gateway and worker 1 moved to surviving nodes.
    expect(serverPort(client)).not.toBe(portOf(cluster.urls[victim]!));
    expect(serverPort(workers[0]!)).not.toBe(portOf(cluster.urls[victim]!));
    // Recognition went on: idempotent reads ride out the failover through the client's retries.
    expect(reads.failed).toEqual([]);
    // Every acknowledged write is there: through the gateway and in every worker's gallery.
    const newest = Math.max(...acked.map((a) => a.revision));
    for (const w of workers) {
      await w.service.gallery.waitForRevision(newest, 30_000).catch((e) => {
        throw new Error(`${w.worker.workerId} stuck at ${w.service.gallery.revision}; warnings:\n${warnings.join("\n")}`, { cause: e });
      });
    }
    for (const a of acked) {
      expect(await client.getUserFaces({ companyId: "acme", userId: a.userId })).toEqual({ faceIds: ["f1"] });
      for (const w of workers) expect(w.service.gallery.getUserFaces("acme", a.userId)).toEqual(["f1"]);
    }
    // Anything refused was refused as unavailable/timeout, never as a wrong answer.
    for (const e of writeErrors) expect(e).toMatch(/: (UNAVAILABLE|TIMEOUT|USER_EXISTS) /);

    // The node restarts on its store and catches up from the others.
    await cluster.nodes[victim]!.restart();
    await until(
      "the restarted node's replica current with lag 0",
      async () => {
        const info = await streamCluster(cluster.urls[other]!);
        const all = [{ name: info.leader, current: true, lag: 0 }, ...(info.replicas ?? [])];
        const back = all.find((r) => r.name === cluster.names[victim]);
        return back !== undefined && back.current === true && (back.lag ?? 0) === 0;
      },
      60_000,
    );
    // A write after the restart reaches both workers.
    const after = await client.createUser({ companyId: "acme", userId: "after-restart", faceId: "f1", image: photo(people[0]!, 1) });
    for (const w of workers) await w.service.gallery.waitForRevision(after.revision!, 15_000);
  }, 240_000);

  test("quorum loss (two nodes down): writes are refused with a clear error, reads go on", async () => {
    // Keep the node the gateway is on; stop the other two.
    const keep = cluster.nodes.findIndex((n) => n.port === serverPort(client));
    expect(keep).toBeGreaterThanOrEqual(0);
    const down = [0, 1, 2].filter((i) => i !== keep);
    for (const i of down) await cluster.nodes[i]!.kill();
    // Workers that were on the stopped nodes fail over to the one left.
    await until("both workers on the surviving node", () => workers.every((w) => serverPort(w) === cluster.nodes[keep]!.port), 30_000);

    const someone = people[1]!;
    const r = await client.recognizeFace({ companyId: "acme", image: photo(someone, 1) });
    expect(r.bbox).not.toBeNull();
    expect(await client.getUserFaces({ companyId: "acme", userId: someone })).toEqual({ faceIds: ["f1"] });

    const started = Date.now();
    let refused: FaceError | undefined;
    try {
      await client.createUser({ companyId: "acme", userId: "during-quorum-loss", faceId: "f1", image: photo(people[2]!, 1) });
    } catch (e) {
      refused = e as FaceError;
    }
    expect(refused).toBeInstanceOf(FaceError);
    expect(refused!.code).toBe("UNAVAILABLE");
    expect(refused!.message).toContain("no JetStream leader");
    expect(Date.now() - started).toBeLessThan(10_000); // the worker's answer, before the client's 10 s timeout

    // Quorum back: writes work again (a fresh user per attempt: a write refused while the cluster
    // recovered may still land later, its outcome was reported unknown).
    for (const i of down) await cluster.nodes[i]!.restart();
    let attempt = 0;
    let written: string | undefined;
    await until(
      "a write after the quorum is back",
      async () => {
        const userId = `after-quorum-${attempt++}`;
        await client.createUser({ companyId: "acme", userId, faceId: "f1", image: photo(people[3]!, 1) });
        written = userId;
        return true;
      },
      60_000,
    );
    // Read-your-writes: the read waits until the serving worker has applied the write.
    expect(await client.getUserFaces({ companyId: "acme", userId: written! })).toEqual({ faceIds: ["f1"] });
  }, 180_000);
}, describeDatasets);
