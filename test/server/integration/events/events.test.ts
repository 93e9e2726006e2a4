/**
 * The event log through the real server: recognize with record: true (and without), the
 * paginated list both ways, filters, CSV, attendance, the live feed with Last-Event-ID, the list
 * endpoints, auth, bad input; events survive a restart on the same SQLite database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { HttpFaceClient } from "../../../../server/http/client.ts";
import { b64, blankJpeg, sample, startTestServer, type TestServer } from "../../harness.ts";

const ADMIN = "k-admin-0123456789";
const ACME = "k-acme-0123456789";
const BETA = "k-beta-0123456789";

let srv: TestServer;
const img = sample(1);

async function recognize(body: Record<string, unknown>, key = ACME, company = "acme") {
  return srv.call("POST", `/v1/companies/${company}/recognize`, { key, json: { image: b64(img), ...body } });
}

beforeAll(async () => {
  srv = await startTestServer({
    sqlite: true,
    integration: true,
    keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"], [BETA]: ["beta"] }),
  });
  for (const c of ["acme", "beta"]) expect((await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: c } })).status).toBe(201);
  const enrolled = await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: "ann", face_id: "f1", image: b64(img) } });
  expect(enrolled.status).toBe(201);
  await srv.call("POST", "/v1/companies/beta/users", { key: BETA, json: { user_id: "bob", face_id: "f1", image: b64(img) } });
});
afterAll(async () => {
  await srv?.stop();
});

describe("recording", () => {
  test("recognize without record stores nothing; with record: true an event with its fields", async () => {
    const plain = await recognize({});
    expect(plain.status).toBe(200);
    expect(plain.body.user_id).toBe("ann");
    expect(plain.body.event_id).toBeUndefined();
    expect((await srv.call("GET", "/v1/companies/acme/events", { key: ACME })).body.events).toEqual([]);

    const rec = await recognize({ record: true, kiosk_id: "front-door", source: "door-api" });
    expect(rec.status).toBe(200);
    expect(rec.body.event_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const list = await srv.call("GET", "/v1/companies/acme/events", { key: ACME });
    expect(list.status).toBe(200);
    expect(list.body.events).toHaveLength(1);
    const e = list.body.events[0];
    expect(e).toMatchObject({ id: rec.body.event_id, company_id: "acme", user_id: "ann", kiosk_id: "front-door", source: "door-api", frames: null });
    expect(e.confidence).toBeCloseTo(rec.body.confidence, 6);
    expect(e.threshold).toBe(srv.service.operatingPoint("acme").threshold);
    expect(Math.abs(Date.parse(e.at) - Date.now())).toBeLessThan(10_000);
  });

  test("an unidentified face is not recorded; the given threshold is", async () => {
    const none = await srv.call("POST", "/v1/companies/acme/recognize", { key: ACME, json: { image: b64(await blankJpeg()), record: true } });
    expect(none.status).toBe(200);
    expect(none.body.user_id).toBeNull();
    expect(none.body.event_id).toBeUndefined();
    const strict = await recognize({ record: true, threshold: 0.5 });
    const e = (await srv.call("GET", "/v1/companies/acme/events?limit=1", { key: ACME })).body.events[0];
    expect(e.id).toBe(strict.body.event_id);
    expect(e.threshold).toBe(0.5);
    expect(e.source).toBe("api");
  });

  test("record works with a raw image body (query parameters) and multipart", async () => {
    const raw = await srv.call("POST", "/v1/companies/acme/recognize?record=true&kiosk_id=lobby", {
      key: ACME,
      body: img,
      headers: { "Content-Type": "image/jpeg" },
    });
    expect(raw.status).toBe(200);
    expect(raw.body.event_id).toBeDefined();
    const form = new FormData();
    form.set("image", new Blob([img]), "a.jpg");
    form.set("record", "true");
    const multi = await srv.call("POST", "/v1/companies/acme/recognize", { key: ACME, body: form });
    expect(multi.body.event_id).toBeDefined();
  });

  test("bad record fields are 400s", async () => {
    expect((await recognize({ record: "yes" })).status).toBe(400);
    expect((await recognize({ record: true, source: "bad source!" })).body.error.code).toBe("INVALID_ARGUMENT");
    expect((await recognize({ record: true, kiosk_id: "x".repeat(200) })).status).toBe(400);
  });
});

describe("listing events", () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 5; i++) ids.push((await recognize({ record: true, kiosk_id: `k${i}` })).body.event_id);
  });

  test("newest first by default, oldest first with order=asc, pages by cursor without gaps or repeats", async () => {
    const all = (await srv.call("GET", "/v1/companies/acme/events?limit=1000", { key: ACME })).body.events.map((e: { id: string }) => e.id);
    expect([...all].sort().reverse()).toEqual(all);
    expect(new Set(all).size).toBe(all.length);
    for (const order of ["desc", "asc"]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { events: Array<{ id: string }>; next_cursor: string | null } } = await srv.call(
          "GET",
          `/v1/companies/acme/events?limit=2&order=${order}${cursor ? `&cursor=${cursor}` : ""}`,
          { key: ACME },
        );
        expect(page.body.events.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.events.map((e) => e.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).toEqual(order === "desc" ? all : [...all].reverse());
    }
  });

  test("since / until / user_id filter", async () => {
    const list = (await srv.call("GET", "/v1/companies/acme/events?order=asc&limit=1000", { key: ACME })).body.events;
    const mid = list[Math.floor(list.length / 2)];
    const since = (await srv.call("GET", `/v1/companies/acme/events?order=asc&since=${encodeURIComponent(mid.at)}`, { key: ACME })).body.events;
    expect(since.length).toBeGreaterThan(0);
    expect(since.every((e: { at: string }) => e.at >= mid.at)).toBe(true);
    const until = (await srv.call("GET", `/v1/companies/acme/events?until=${Date.parse(mid.at)}`, { key: ACME })).body.events;
    expect(until.every((e: { at: string }) => e.at < mid.at)).toBe(true);
    expect(since.length + until.length).toBe(list.length);
    expect((await srv.call("GET", "/v1/companies/acme/events?user_id=nobody", { key: ACME })).body.events).toEqual([]);
    expect((await srv.call("GET", "/v1/companies/acme/events?user_id=ann&limit=1000", { key: ACME })).body.events).toHaveLength(list.length);
  });

  test("CSV with Accept: text/csv: a header and one row per event", async () => {
    const res = await fetch(`${srv.url}/v1/companies/acme/events?limit=3`, { headers: { "X-API-Key": ACME, Accept: "text/csv" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    expect(res.headers.get("x-next-cursor")).toBeTruthy();
    const lines = (await res.text()).trimEnd().split("\r\n");
    expect(lines[0]).toBe("id,at,company_id,user_id,name,confidence,threshold,kiosk_id,source,frames,session_id,liveness,type");
    expect(lines).toHaveLength(4);
    expect(lines[1].split(",")[3]).toBe("ann");
  });

  test("companies are separate; another company's key is refused", async () => {
    expect((await srv.call("GET", "/v1/companies/beta/events", { key: BETA })).body.events).toEqual([]);
    expect((await srv.call("GET", "/v1/companies/acme/events", { key: BETA })).status).toBe(403);
    expect((await srv.call("GET", "/v1/companies/acme/events")).status).toBe(401);
  });

  test("bad query parameters are 400 INVALID_ARGUMENT", async () => {
    for (const q of ["limit=0", "limit=abc", "limit=5000", "order=up", "since=yesterday", "cursor=garbage", "user_id="]) {
      const r = await srv.call("GET", `/v1/companies/acme/events?${q}`, { key: ACME });
      expect([q, r.status, r.body?.error?.code]).toEqual([q, 400, "INVALID_ARGUMENT"]);
    }
  });
});

describe("attendance", () => {
  test("first and last event per user per day; other days are empty", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const list = (await srv.call("GET", "/v1/companies/acme/events?order=asc&limit=1000", { key: ACME })).body.events;
    const r = await srv.call("GET", `/v1/companies/acme/attendance?date=${today}`, { key: ACME });
    expect(r.status).toBe(200);
    expect(r.body.users).toHaveLength(1);
    const ann = r.body.users[0];
    expect(ann.user_id).toBe("ann");
    expect(ann.first.event_id).toBe(list[0].id);
    expect(ann.last.event_id).toBe(list[list.length - 1].id);
    expect(ann.events).toBe(list.length);
    expect((await srv.call("GET", "/v1/companies/acme/attendance?date=2001-01-01", { key: ACME })).body.users).toEqual([]);
    const csv = await fetch(`${srv.url}/v1/companies/acme/attendance?date=${today}`, { headers: { "X-API-Key": ACME, Accept: "text/csv" } });
    expect((await csv.text()).split("\r\n")[1]).toStartWith(`ann,${today},`);
    for (const q of ["", "date=2026-13-45", "date=today", `date=${today}&utc_offset=2h`]) {
      expect((await srv.call("GET", `/v1/companies/acme/attendance?${q}`, { key: ACME })).status).toBe(400);
    }
  });
});

describe("live feed (server-sent events)", () => {
  async function readEvents(res: Response, n: number, ms = 10_000): Promise<Array<{ id: string; data: { user_id: string } }>> {
    const reader = res.body!.getReader();
    const out: Array<{ id: string; data: { user_id: string } }> = [];
    let buf = "";
    const deadline = Date.now() + ms;
    while (out.length < n && Date.now() < deadline) {
      const { value, done } = await Promise.race([
        reader.read(),
        new Promise<{ value: undefined; done: true }>((r) => setTimeout(() => r({ value: undefined, done: true }), deadline - Date.now())),
      ]);
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) out.push({ id, data: JSON.parse(data) });
      }
    }
    await reader.cancel();
    return out;
  }

  test("new events arrive as they are recorded; only the company's", async () => {
    const res = await fetch(`${srv.url}/v1/companies/acme/events/stream`, { headers: { "X-API-Key": ACME } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const got = readEvents(res, 2);
    await new Promise((r) => setTimeout(r, 50));
    await srv.call("POST", "/v1/companies/beta/recognize", { key: BETA, json: { image: b64(img), record: true } });
    const a = await recognize({ record: true });
    const b = await recognize({ record: true });
    const events = await got;
    expect(events.map((e) => e.id)).toEqual([a.body.event_id, b.body.event_id]);
    expect(events[0].data.user_id).toBe("ann");
  });

  test("Last-Event-ID replays what was missed, then continues live", async () => {
    const list = (await srv.call("GET", "/v1/companies/acme/events?limit=3", { key: ACME })).body.events;
    const res = await fetch(`${srv.url}/v1/companies/acme/events/stream?key=${ACME}`, { headers: { "Last-Event-ID": list[2].id } });
    expect(res.status).toBe(200);
    const got = readEvents(res, 3);
    await new Promise((r) => setTimeout(r, 100));
    const c = await recognize({ record: true });
    expect((await got).map((e) => e.id)).toEqual([list[1].id, list[0].id, c.body.event_id]);
  });

  test("the feed needs a key for the company", async () => {
    expect((await fetch(`${srv.url}/v1/companies/acme/events/stream`)).status).toBe(401);
    expect((await fetch(`${srv.url}/v1/companies/acme/events/stream?key=${BETA}`)).status).toBe(403);
  });
});

describe("list endpoints", () => {
  test("GET /v1/companies (admin) with counts and pagination", async () => {
    for (let i = 0; i < 3; i++) await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: `zz-${i}` } });
    const r = await srv.call("GET", "/v1/companies", { key: ADMIN });
    expect(r.status).toBe(200);
    expect(r.body.companies.find((c: { company_id: string }) => c.company_id === "acme")).toEqual({ company_id: "acme", users: 1, faces: 1 });
    expect(r.body.total).toBe(r.body.companies.length);
    const p1 = await srv.call("GET", "/v1/companies?limit=2", { key: ADMIN });
    const p2 = await srv.call("GET", `/v1/companies?limit=2&cursor=${p1.body.next_cursor}`, { key: ADMIN });
    expect([...p1.body.companies, ...p2.body.companies].map((c: { company_id: string }) => c.company_id)).toEqual(
      r.body.companies.slice(0, 4).map((c: { company_id: string }) => c.company_id),
    );
    expect((await srv.call("GET", "/v1/companies", { key: ACME })).status).toBe(403);
  });

  test("GET /v1/companies/:company/users with face counts, paginated; unknown company 404", async () => {
    await srv.call("POST", "/v1/companies/acme/users/ann/faces", { key: ACME, json: { face_id: "f2", image: b64(img) } });
    for (const u of ["cat", "dan"]) await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: u, face_id: "f1", image: b64(img) } });
    const all = await srv.call("GET", "/v1/companies/acme/users", { key: ACME });
    expect(all.body).toEqual({
      company_id: "acme",
      users: [
        { user_id: "ann", faces: 2 },
        { user_id: "cat", faces: 1 },
        { user_id: "dan", faces: 1 },
      ],
      total: 3,
      next_cursor: null,
    });
    const p1 = await srv.call("GET", "/v1/companies/acme/users?limit=2", { key: ACME });
    expect(p1.body.users.map((u: { user_id: string }) => u.user_id)).toEqual(["ann", "cat"]);
    const p2 = await srv.call("GET", `/v1/companies/acme/users?limit=2&cursor=${p1.body.next_cursor}`, { key: ACME });
    expect(p2.body).toMatchObject({ users: [{ user_id: "dan", faces: 1 }], next_cursor: null });
    expect((await srv.call("GET", "/v1/companies/nope/users", { key: ADMIN })).body.error.code).toBe("COMPANY_NOT_FOUND");
    expect((await srv.call("GET", "/v1/companies/acme/users", { key: BETA })).status).toBe(403);
    expect((await srv.call("GET", "/v1/companies/acme/users?limit=0", { key: ACME })).status).toBe(400);
  });

  test("the new routes are in the OpenAPI document", async () => {
    const doc = (await srv.call("GET", "/openapi.json")).body;
    expect(doc.paths["/v1/companies"].get.operationId).toBe("list_companies");
    expect(doc.paths["/v1/companies/{company}/users"].get.operationId).toBe("list_users");
    expect(doc.paths["/v1/companies/{company}/events"].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["since", "until", "user_id", "limit", "cursor", "order"]),
    );
    expect(doc.paths["/v1/companies/{company}/webhook"].put.operationId).toBe("put_webhook");
    expect(doc.paths["/v1/companies/{company}/attendance"].get.operationId).toBe("attendance");
    expect(doc.paths["/v1/companies/{company}/events/stream"].get.operationId).toBe("stream_events");
    expect(Object.keys(doc.paths["/v1/companies/{company}/events"].get.responses["200"].content)).toEqual(["application/json", "text/csv"]);
    expect(Object.keys(doc.paths["/v1/companies/{company}/events/stream"].get.responses["200"].content)).toEqual(["text/event-stream"]);
  });
});

describe("TypeScript client (HttpFaceClient)", () => {
  test("lists, events, attendance and webhook calls", async () => {
    const admin = new HttpFaceClient({ url: srv.url, key: ADMIN });
    const acme = new HttpFaceClient({ url: srv.url, key: ACME });
    const companies = await admin.listCompanies({ limit: 1000 });
    expect(companies.companies.find((c) => c.companyId === "acme")?.users).toBeGreaterThanOrEqual(1);
    const users = await acme.listUsers({ companyId: "acme", limit: 2 });
    expect(users.users[0]).toEqual({ userId: "ann", faces: expect.any(Number) });
    expect(users.nextCursor).not.toBeNull();
    expect((await acme.listUsers({ companyId: "acme", cursor: users.nextCursor!, limit: 2 })).users.length).toBeGreaterThan(0);
    await expect(acme.listUsers({ companyId: "beta" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const page = await acme.listEvents("acme", { limit: 2, order: "asc" });
    expect(page.events).toHaveLength(2);
    expect((await acme.listEvents("acme", { limit: 2, order: "asc", cursor: page.next_cursor! })).events[0].id > page.events[1].id).toBe(true);
    const today = new Date().toISOString().slice(0, 10);
    expect((await acme.attendance("acme", today)).users[0].user_id).toBe("ann");
    const hook = await acme.putWebhook("acme", "http://127.0.0.1:9/h");
    expect(hook.secret).toMatch(/^whsec_/);
    expect((await acme.getWebhook("acme")).url).toBe("http://127.0.0.1:9/h");
    expect(await acme.retryWebhook("acme")).toBe(0);
    expect(await acme.deleteWebhook("acme")).toBe(true);
    await expect(acme.getWebhook("acme")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("a deleted company", () => {
  test("takes its events and webhook with it; created again, it starts empty", async () => {
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "gone" } });
    await srv.call("POST", "/v1/companies/gone/users", { key: ADMIN, json: { user_id: "ann", face_id: "f1", image: b64(img) } });
    expect((await recognize({ record: true }, ADMIN, "gone")).body.event_id).toBeDefined();
    expect((await srv.call("PUT", "/v1/companies/gone/webhook", { key: ADMIN, json: { url: "http://127.0.0.1:9/h" } })).status).toBe(200);
    expect((await srv.call("GET", "/v1/companies/gone/events", { key: ADMIN })).body.events).toHaveLength(1);
    expect((await srv.call("DELETE", "/v1/companies/gone", { key: ADMIN })).body.deleted).toBe(true);
    await Bun.sleep(50);
    expect((await srv.call("GET", "/v1/companies/gone/events", { key: ADMIN })).body.events).toEqual([]);
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "gone" } });
    expect((await srv.call("GET", "/v1/companies/gone/webhook", { key: ADMIN })).status).toBe(404);
    expect((await srv.call("GET", "/v1/companies/gone/events", { key: ADMIN })).body.events).toEqual([]);
  });
});
