/**
 * Health and stats that do not grow with tenants (issue 21, item 4): 10,000 companies (synthetic,
 * bulk-loaded into the KV bucket, no engine work) behind a real nats-server with a stock 1 MiB
 * max_payload. Health asks the workers for totals (a small fixed-size answer) and answers; stats
 * answer totals or one company; every company's map (what health used to read) is past
 * max_payload, and the worker refuses it clearly instead of never answering.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { encodeRequest, STATS_SUBJECT } from "../../../lib/nats/protocol.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { codeOf } from "../../helpers/errors.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

const COMPANIES = 10_000;

describeWithTools(["nats-server"], "health and stats with 10,000 companies", () => {
  // A stock nats-server's max_payload (the test helper's default is 8 MiB).
  const nats = useNatsServer({ maxPayload: 1024 * 1024 });
  let engine: FaceEngine;
  let worker: RunningWorker;
  let client: FaceClient;
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    const store = await KvGalleryStore.open({ nc });
    const companies = Array.from({ length: COMPANIES }, (_, i) => `tenant-${String(i).padStart(5, "0")}`);
    await store.bulkLoad({ companies, users: companies.slice(0, 10).map((companyId) => ({ companyId, userId: "u1" })), faces: [] });
    store.close();
    engine = await createEngine({ ortThreads: 1 });
    worker = await startFaceWorker({ engine, env: { NATS_URL: nats.url }, service: { workerId: "s1" }, log: () => {} });
    client = await FaceClient.connect({ servers: nats.url, env: {}, healthCacheMs: 0 });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await engine?.dispose();
    await nc?.close();
  });

  const statsReply = async (args: Record<string, unknown> | undefined) => {
    const m = await nc.request(STATS_SUBJECT, encodeRequest(args).payload, { timeout: 10_000 });
    return { bytes: m.data.byteLength, body: JSON.parse(new TextDecoder().decode(m.data)) };
  };

  test("health answers from a small fixed-size stats answer", async () => {
    expect(worker.service.gallery.stats().companies).toBe(COMPANIES);
    const h = await client.healthCheck();
    expect(h.status).toBe("ok");
    expect(h.store.workersSeen).toBe(1);
    const totals = await statsReply({ detail: "totals" });
    expect(totals.body.result.cache.companiesCount).toBe(COMPANIES);
    expect(totals.body.result.cache.companies).toEqual({});
    expect(totals.bytes).toBeLessThan(8 * 1024);
  });

  test("stats: totals, or one company's detail; every company past max_payload is refused, not silent", async () => {
    const one = await client.getCacheStats({ statsCompanyId: "tenant-00003" });
    expect(one.companiesCount).toBe(COMPANIES);
    expect(one.companies).toEqual({ "tenant-00003": { users: 1, faces: 0 } });
    expect(Object.keys(one.cacheInfo.operatingPoints as object)).toEqual(["tenant-00003"]);
    expect((await client.getCacheStats({ statsDetail: "totals" })).companies).toEqual({});
    // The old request (every company) would be ~1.5 MB; the server's max_payload is 1 MiB.
    expect(nc.info!.max_payload).toBe(1024 * 1024);
    const all = await statsReply(undefined);
    expect(all.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await codeOf(client.getCacheStats())).toBe("PAYLOAD_TOO_LARGE");
  });
});
