/**
 * NATS mode (`bun run start` with NATS_URL, a FaceWorker behind it): recognize with record: true
 * goes to the JetStream events stream, and the same routes read it back (list, CSV, attendance,
 * live feed). Two gateways on one NATS: what one records, the other lists and streams.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startFaceWorker, type RunningWorker } from "../../../../server/compose/worker.ts";
import { useNatsServer } from "../../../helpers/nats-server.ts";
import { startServerProcess, type ServerProcess } from "../../../helpers/server-process.ts";
import { describeWithTools } from "../../../helpers/tools.ts";
import { verifySignature } from "../../../../server/integration/webhooks/signature.ts";
import { b64, call, sample, sharedEngine } from "../../harness.ts";

const ADMIN = "k-admin-0123456789";

describeWithTools(["nats-server"], "event log in NATS mode (gateway processes)", () => {
  const nats = useNatsServer();
  let worker: RunningWorker;
  let g1: ServerProcess;
  let g2: ServerProcess;
  let g3: ServerProcess | undefined;
  let env: Record<string, string> = {};

  beforeAll(async () => {
    worker = await startFaceWorker({ nats: { servers: [nats.url], bucket: "evgw" }, engine: await sharedEngine(), env: {}, log: () => {} });
    env = {
      NATS_URL: nats.url,
      NATS_KV_BUCKET: "evgw",
      API_KEYS: JSON.stringify({ [ADMIN]: ["*"] }),
      WEBHOOK_TIMEOUT_MS: "1000",
      WEBHOOK_RETRY_BASE_MS: "100",
      WEBHOOK_RETRY_MAX_MS: "500",
    };
    [g1, g2] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  afterAll(async () => {
    await g1?.stop("SIGTERM");
    await g2?.stop("SIGTERM");
    await g3?.stop("SIGTERM");
    await worker?.close();
  });

  test("record through one gateway; list, attendance and the live feed through the other", async () => {
    const img = sample(1);
    expect((await call(g1.url, "POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } })).status).toBe(201);
    const u = await call(g1.url, "POST", "/v1/companies/acme/users", { key: ADMIN, json: { user_id: "ann", face_id: "f1", image: b64(img) } });
    expect(u.status).toBe(201);

    const feed = await fetch(`${g2.url}/v1/companies/acme/events/stream`, { headers: { "X-API-Key": ADMIN } });
    expect(feed.status).toBe(200);
    const reader = feed.body!.getReader();
    await Bun.sleep(200);

    const ids: string[] = [];
    for (const kiosk of ["door-1", "door-2"]) {
      const r = await call(g1.url, "POST", "/v1/companies/acme/recognize", {
        key: ADMIN,
        json: { image: b64(img), record: true, kiosk_id: kiosk },
        headers: { "X-Min-Revision": String(u.body.revision) },
      });
      expect(r.status).toBe(200);
      expect(r.body.user_id).toBe("ann");
      ids.push(r.body.event_id);
    }

    let text = "";
    const deadline = Date.now() + 10_000;
    while ((text.match(/event: identified/g) ?? []).length < 2 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    expect([...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1])).toEqual(ids);

    const listed = await call(g2.url, "GET", "/v1/companies/acme/events", { key: ADMIN });
    expect(listed.status).toBe(200);
    expect(listed.body.events.map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    expect(listed.body.events[0]).toMatchObject({ user_id: "ann", kiosk_id: "door-2", source: "api", company_id: "acme" });
    expect(typeof listed.body.events[0].threshold).toBe("number");
    const page = await call(g2.url, "GET", "/v1/companies/acme/events?order=asc&limit=1", { key: ADMIN });
    expect(page.body.events[0].id).toBe(ids[0]);
    const next = await call(g2.url, "GET", `/v1/companies/acme/events?order=asc&limit=1&cursor=${page.body.next_cursor}`, { key: ADMIN });
    expect(next.body.events.map((e: { id: string }) => e.id)).toEqual([ids[1]]);

    const today = new Date().toISOString().slice(0, 10);
    const att = await call(g2.url, "GET", `/v1/companies/acme/attendance?date=${today}`, { key: ADMIN });
    expect(att.body.users).toEqual([
      expect.objectContaining({ user_id: "ann", events: 2, first: expect.objectContaining({ kiosk_id: "door-1" }), last: expect.objectContaining({ kiosk_id: "door-2" }) }),
    ]);
    const users = await call(g2.url, "GET", "/v1/companies/acme/users", { key: ADMIN });
    expect(users.body.users).toEqual([{ user_id: "ann", faces: 1 }]);
    const companies = await call(g2.url, "GET", "/v1/companies", { key: ADMIN });
    expect(companies.body.companies).toEqual([{ company_id: "acme", users: 1, faces: 1 }]);
  }, 120_000);

  test("webhooks: shared by the gateways, retried, signed; a delivery in flight when every gateway is SIGKILLed arrives from a new one", async () => {
    const SECRET = "nats-secret-0123456789";
    const got: Array<{ id: string; body: string; signature: string | null; status: number }> = [];
    let mode: "fail-first" | "hold" | "ok" = "fail-first";
    const held: Array<() => void> = [];
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      idleTimeout: 0,
      async fetch(req) {
        const body = await req.text();
        const id = req.headers.get("facegate-event-id") ?? "";
        const seen = got.filter((g) => g.id === id).length;
        const status = mode === "hold" ? 0 : mode === "fail-first" && seen === 0 ? 503 : 200;
        got.push({ id, body, signature: req.headers.get("facegate-signature"), status });
        if (status === 0) await new Promise<void>((r) => held.push(r));
        return new Response("", { status: status || 200 });
      },
    });
    const delivered = () => new Set(got.filter((g) => g.status === 200).map((g) => g.id));
    const until = async (check: () => boolean, ms: number, what: string) => {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await Bun.sleep(25);
      }
    };
    try {
      const img = b64(sample(1));
      const put = await call(g1.url, "PUT", "/v1/companies/acme/webhook", { key: ADMIN, json: { url: `http://127.0.0.1:${receiver.port}/h`, secret: SECRET } });
      expect(put.status).toBe(200);
      await Bun.sleep(300); // both gateways pick the webhook up from the KV watch
      const ids: string[] = [];
      for (const g of [g1, g2, g1]) {
        ids.push((await call(g.url, "POST", "/v1/companies/acme/recognize", { key: ADMIN, json: { image: img, record: true } })).body.event_id);
      }
      await until(() => ids.every((id) => delivered().has(id)), 20_000, "retried deliveries");
      for (const id of ids) expect(got.filter((g) => g.id === id).map((g) => g.status)).toEqual([503, 200]);
      for (const g of got) expect(verifySignature(SECRET, g.body, g.signature)).toBe(true);
      let status = await call(g2.url, "GET", "/v1/companies/acme/webhook", { key: ADMIN });
      for (let i = 0; i < 100 && (status.body.pending !== 0 || status.body.delivered < 1); i++) {
        await Bun.sleep(50); // acks follow the receiver's answers
        status = await call(g2.url, "GET", "/v1/companies/acme/webhook", { key: ADMIN });
      }
      expect(status.body).toMatchObject({ pending: 0, dead_letters: 0, last_error: "HTTP 503" });
      expect(status.body.delivered).toBeGreaterThanOrEqual(1);

      // every gateway dies while the receiver holds the deliveries
      mode = "hold";
      const more: string[] = [];
      for (let i = 0; i < 2; i++) more.push((await call(g1.url, "POST", "/v1/companies/acme/recognize", { key: ADMIN, json: { image: img, record: true } })).body.event_id);
      await until(() => more.every((id) => got.some((g) => g.id === id)), 10_000, "deliveries in flight");
      await Promise.all([g1.stop("SIGKILL"), g2.stop("SIGKILL")]);
      mode = "ok";
      g3 = await startServerProcess(env);
      await until(() => more.every((id) => delivered().has(id)), 30_000, "redelivery by a new gateway after ack_wait");
      const dupes = [...new Set(got.map((g) => g.id))].filter((id) => got.filter((g) => g.id === id && g.status === 200).length > 1);
      expect(dupes).toEqual([]); // the held attempts never got a 2xx from a live gateway; each event was acknowledged once
    } finally {
      for (const r of held.splice(0)) r();
      await receiver.stop(true);
    }
  }, 120_000);

  test("a deleted company's events (purged from the stream) and webhook go with it", async () => {
    const g = g3 ?? g1;
    const img = b64(sample(1));
    await call(g.url, "POST", "/v1/companies", { key: ADMIN, json: { company_id: "gone" } });
    const u = await call(g.url, "POST", "/v1/companies/gone/users", { key: ADMIN, json: { user_id: "ann", face_id: "f1", image: img } });
    const rec = await call(g.url, "POST", "/v1/companies/gone/recognize", { key: ADMIN, json: { image: img, record: true }, headers: { "X-Min-Revision": String(u.body.revision) } });
    expect(rec.body.event_id).toBeDefined();
    expect((await call(g.url, "PUT", "/v1/companies/gone/webhook", { key: ADMIN, json: { url: "http://127.0.0.1:9/h" } })).status).toBe(200);
    expect((await call(g.url, "GET", "/v1/companies/gone/events", { key: ADMIN })).body.events).toHaveLength(1);
    expect((await call(g.url, "DELETE", "/v1/companies/gone", { key: ADMIN })).body.deleted).toBe(true);
    let events = [1];
    for (let i = 0; i < 100 && events.length > 0; i++) {
      await Bun.sleep(50);
      events = (await call(g.url, "GET", "/v1/companies/gone/events", { key: ADMIN })).body.events;
    }
    expect(events).toEqual([]);
    expect((await call(g.url, "GET", "/v1/companies/gone/webhook", { key: ADMIN })).status).toBe(404);
  }, 60_000);
});
