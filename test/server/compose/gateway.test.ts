/**
 * Gateway mode: `bun server/main.ts` with NATS_URL forwards every route through FaceClient to a
 * FaceWorker (real nats-server, JetStream KV store, real engine). The HTTP answers are the same as
 * in embedded mode.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import sharp from "sharp";
import { ROOT, readDataset, testDatasets } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { b64, call, camelCaseKeys, sample, sharedEngine } from "../harness.ts";

setDefaultTimeout(60_000);

let nats: NatsServer;
let worker: RunningWorker;
let gateway: ReturnType<typeof Bun.spawn> | undefined;
let url = "";
let cwd = "";

describeWithTools(["nats-server"], "gateway mode (HTTP through NATS)", () => {
  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), "facegate-gateway-test-"));
    // nats-server's own default max_payload (1 MiB), as in a plain deployment.
    nats = await startTestNatsServer({ maxPayload: 1024 * 1024 });
    const bucket = `gw${Date.now()}`;
    worker = await startFaceWorker({
      nats: { servers: [nats.url], bucket },
      engine: await sharedEngine(),
      env: {},
      service: { workerId: "worker-under-test" },
      log: () => {},
    });
    gateway = Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", NATS_URL: nats.url, NATS_KV_BUCKET: bucket },
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = (gateway.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const deadline = Date.now() + 30_000;
    while (!text.includes('"msg":"ready"') && Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const listening = text
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; url?: string; mode?: string })
      .find((l) => l.msg === "listening");
    expect(listening?.mode).toBe("nats");
    url = String(listening?.url);
  });

  afterAll(async () => {
    gateway?.kill("SIGTERM");
    await gateway?.exited;
    await worker?.close();
    await nats?.stop();
    await nats?.cleanup?.();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  test("the HTTP API through NATS: enroll, recognize, errors, health, stats", async () => {
    const group1 = sample(1);
    expect((await call(url, "POST", "/v1/companies", { json: { company_id: "acme" } })).status).toBe(201);
    const enrolled = await call(url, "POST", "/v1/companies/acme/users", { body: group1, headers: { "Content-Type": "image/jpeg" } });
    // raw body without user_id: refused at the edge, before NATS
    expect(enrolled.status).toBe(400);
    const u = await call(url, "POST", "/v1/companies/acme/users?user_id=ann&face_id=1&return_embedding=true", { body: group1, headers: { "Content-Type": "image/jpeg" } });
    expect(u.status).toBe(201);
    expect(u.body.embedding).toHaveLength(512);
    expect(u.body.faces_found).toBe(3); // through NATS too: the group photo had 3 faces, the largest was enrolled
    const r = await call(url, "POST", "/v1/companies/acme/recognize", { json: { image: b64(group1) }, headers: { "X-Min-Revision": String(u.body.revision) } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe("ann");
    const dup = await call(url, "POST", "/v1/companies/acme/users", { json: { user_id: "ann", face_id: "2", image: b64(group1) } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe("USER_EXISTS");
    const health = await call(url, "GET", "/v1/health");
    expect(health.status).toBe(200);
    expect(health.body.engine.embedding_dim).toBe(512);
    const stats = await call(url, "GET", "/v1/stats?detail=companies");
    expect(stats.status).toBe(200);
    expect(stats.body.cache_info.acme).toEqual({ users: 1, faces: 1 });
    // The per-worker entries are snake_case like the rest of the response.
    const w = stats.body.server_info.workers[0];
    expect(w.worker_id).toBe("worker-under-test");
    expect(typeof w.uptime_seconds).toBe("number");
    expect(typeof w.in_flight).toBe("number");
    expect(w.workerId).toBeUndefined();
    expect(stats.body.server_info.workers_seen).toBe(1);
    expect(camelCaseKeys(stats.body.server_info, ["models"])).toEqual([]);
    expect(Object.keys(stats.body.server_info.models)).toEqual(["acme"]);
    expect(camelCaseKeys(health.body.store)).toEqual([]);
    expect(health.body.store.workers[0].worker_id).toBe("worker-under-test");
    // Gateway mode: the admission limit is the gateway's default, not one per core.
    const metrics = await call(url, "GET", "/metrics");
    expect(metrics.text).toContain('facegate_admission_limit{kind="in_flight"} 64');
  });

  testDatasets("press photos through the gateway (JSON base64 and raw bytes, up to 4352 px and 5.8 MB): no 413, the same user", async () => {
    const shea = readDataset("scenes/large", "shea_whigham.jpg"); // 2048x1991, 2.75 MB: 3.7 MB as base64
    const big = new Uint8Array(await sharp(shea).resize({ width: 4352 }).jpeg({ quality: 97 }).toBuffer());
    expect((await call(url, "POST", "/v1/companies", { json: { company_id: "press" } })).status).toBe(201);
    const enrolled = await call(url, "POST", "/v1/companies/press/users", { json: { user_id: "shea", face_id: "1", image: b64(shea) } });
    expect(enrolled.status).toBe(201);
    const r = await call(url, "POST", "/v1/companies/press/recognize", { body: big, headers: { "Content-Type": "image/jpeg" } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe("shea");
    // Box in the original's pixels (4352 wide), not the working size's.
    expect(r.body.bbox[0] + r.body.bbox[2]).toBeGreaterThan(1920);
    const json = await call(url, "POST", "/v1/companies/press/recognize", { json: { image: b64(big) } });
    expect(json.status).toBe(200);
    expect(json.body.user_id).toBe("shea");
  });

  test("the worker gone: 503 (UNAVAILABLE or TIMEOUT), the gateway stays up", async () => {
    await worker.close();
    const r = await call(url, "POST", "/v1/detect", { json: { image: b64(sample(2)) } });
    expect(r.status).toBe(503);
    expect(["UNAVAILABLE", "TIMEOUT"]).toContain(r.body.error.code);
    expect((await call(url, "GET", "/openapi.json")).status).toBe(200);
  });
});
