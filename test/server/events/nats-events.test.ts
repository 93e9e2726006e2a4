/**
 * NATS mode (`bun run start` with NATS_URL, a FaceWorker behind it): recognize with record: true
 * goes to the JetStream events stream, and the same routes read it back (list, CSV, attendance,
 * live feed). Two gateways on one NATS: what one records, the other lists and streams.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startFaceWorker, type RunningWorker } from "../../../server/worker.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { b64, call, sample, sharedEngine } from "../harness.ts";

const ADMIN = "k-admin-0123456789";

describeWithTools(["nats-server"], "event log in NATS mode (gateway processes)", () => {
  const nats = useNatsServer();
  let worker: RunningWorker;
  let g1: ServerProcess;
  let g2: ServerProcess;

  beforeAll(async () => {
    worker = await startFaceWorker({ nats: { servers: [nats.url], bucket: "evgw" }, engine: await sharedEngine(), env: {}, log: () => {} });
    const env = { NATS_URL: nats.url, NATS_KV_BUCKET: "evgw", API_KEYS: JSON.stringify({ [ADMIN]: ["*"] }) };
    [g1, g2] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  afterAll(async () => {
    await g1?.stop("SIGTERM");
    await g2?.stop("SIGTERM");
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
});
