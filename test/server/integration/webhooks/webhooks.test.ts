/**
 * Webhooks with a real local receiver: signatures, retries with back-off after failed attempts,
 * dead letters and their re-queue, status and metrics, validation; and the server process killed
 * (SIGKILL) while deliveries are in flight: after a restart every event arrives, and the only
 * duplicates are deliveries that were in flight at the kill (as documented).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { Webhook } from "standardwebhooks";
import { sign, standardHeaders, verifySignature } from "../../../../server/integration/webhooks/signature.ts";
import { startServerProcess, type ServerProcess } from "../../../helpers/server-process.ts";
import { b64, call, sample, startTestServer, type TestServer } from "../../harness.ts";

const ADMIN = "k-admin-0123456789";
const ACME = "k-acme-0123456789";
const SECRET = "s3cret-s3cret-s3cret";
const img = sample(1);

interface Received {
  id: string;
  attempt: number;
  body: string;
  signature: string | null;
  idempotencyKey: string | null;
  headers: Record<string, string>;
  status: number;
}

/** A local receiver: `respond` decides each answer (a status, or "hold" to never answer). */
function receiver(respond: (r: Omit<Received, "status">, nthForId: number) => number | "hold") {
  const got: Received[] = [];
  const counts = new Map<string, number>();
  const held: Array<() => void> = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const body = await req.text();
      const r = {
        id: req.headers.get("facegate-event-id") ?? "",
        attempt: Number(req.headers.get("facegate-delivery-attempt")),
        body,
        signature: req.headers.get("facegate-signature"),
        idempotencyKey: req.headers.get("idempotency-key"),
        headers: Object.fromEntries(req.headers),
      };
      const n = (counts.get(r.id) ?? 0) + 1;
      counts.set(r.id, n);
      const answer = respond(r, n);
      if (answer === "hold") {
        got.push({ ...r, status: 0 });
        await new Promise<void>((resolve) => held.push(resolve));
        return new Response("too late", { status: 200 });
      }
      got.push({ ...r, status: answer });
      return new Response(answer < 300 ? "ok" : "no", { status: answer });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    got,
    delivered: () => new Set(got.filter((g) => g.status >= 200 && g.status < 300).map((g) => g.id)),
    async stop() {
      for (const release of held.splice(0)) release();
      await server.stop(true);
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, ms = 30_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("signature", () => {
  test("sign and verify: the timestamp and the exact body are covered", () => {
    const body = '{"id":"x"}';
    const header = sign(SECRET, body, 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, body, header, 300, 1_700_000_100)).toBe(true);
    expect(verifySignature(SECRET, `${body} `, header, 300, 1_700_000_100)).toBe(false);
    expect(verifySignature("another-secret-123", body, header, 300, 1_700_000_100)).toBe(false);
    expect(verifySignature(SECRET, body, header, 300, 1_700_001_000)).toBe(false); // replayed too late
    expect(verifySignature(SECRET, body, header.replace("t=1700000000", "t=1700000050"), 300, 1_700_000_100)).toBe(false);
    expect(verifySignature(SECRET, body, null)).toBe(false);
    expect(verifySignature(SECRET, body, "garbage")).toBe(false);
  });

  test("Standard Webhooks: the off-the-shelf verifier accepts our headers (whsec_ secret and a raw one) and refuses a changed body", () => {
    const body = '{"id":"x"}';
    const now = Math.floor(Date.now() / 1000);
    const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const headers = standardHeaders(whsec, "01JABCDEFGHJKMNPQRSTVWXYZ0", body, now);
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(whsec).verify(body, headers)).toEqual({ id: "x" });
    expect(() => new Webhook(whsec).verify(`${body} `, headers)).toThrow();
    // A secret without the prefix is its own bytes: the verifiers' "raw" format.
    const raw = standardHeaders(SECRET, "evt", body, now);
    expect(new Webhook(SECRET, { format: "raw" }).verify(body, raw)).toEqual({ id: "x" });
    expect(() => new Webhook("whsec_" + btoa("another-secret-123"), {}).verify(body, raw)).toThrow();
  });
});

describe("webhooks (in-process server, SQLite)", () => {
  let srv: TestServer;
  let rcv: ReturnType<typeof receiver> | undefined;
  beforeAll(async () => {
    srv = await startTestServer({
      sqlite: true,
      integration: { retryBaseMs: 50, retryMaxMs: 400 },
      keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] }),
    });
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } });
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "quiet" } });
    expect((await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: "ann", face_id: "f1", image: b64(img) } })).status).toBe(201);
  });
  afterEach(async () => {
    await rcv?.stop();
    rcv = undefined;
    await srv.call("DELETE", "/v1/companies/acme/webhook", { key: ACME });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  const record = async () => (await srv.call("POST", "/v1/companies/acme/recognize", { key: ACME, json: { image: b64(img), record: true } })).body.event_id as string;

  test("a receiver that fails the first two attempts gets every event, signed, with back-off between attempts", async () => {
    const r = receiver((_r, n) => (n <= 2 ? 503 : 200));
    rcv = r;
    const put = await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: r.url, secret: SECRET } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ company_id: "acme", url: r.url, secret_hint: SECRET.slice(-4), pending: 0, dead_letters: 0 });
    expect(put.body.secret).toBeUndefined();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await record());
    await until(() => r.delivered().size === ids.length, 30_000, "all deliveries");
    expect([...r.delivered()].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const attempts = r.got.filter((g) => g.id === id);
      expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
        [1, 503],
        [2, 503],
        [3, 200],
      ]);
      for (const a of attempts) {
        expect(a.idempotencyKey).toBe(id);
        expect(verifySignature(SECRET, a.body, a.signature)).toBe(true);
        // the same request verified by the Standard Webhooks library; webhook-id is the event id on every retry
        expect(a.headers["webhook-id"]).toBe(id);
        expect(new Webhook(SECRET, { format: "raw" }).verify(a.body, a.headers)).toMatchObject({ id });
        const event = JSON.parse(a.body);
        expect(event).toMatchObject({ type: "identified", id, company_id: "acme", user_id: "ann", source: "api" });
      }
      expect(new Set(attempts.map((a) => a.body)).size).toBe(1); // a retry sends the same bytes
    }
    // the server notes each success once the receiver's answer is in
    await until(async () => (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body.delivered === 4, 5000, "successes noted");
    const status = await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME });
    expect(status.body).toMatchObject({ pending: 0, dead_letters: 0, delivered: 4, last_error: "HTTP 503" });
    expect(status.body.last_success_at).toBeTruthy();
    expect(status.body.secret).toBeUndefined();
    const metrics = await srv.call("GET", "/metrics", { key: ADMIN });
    expect(metrics.text).toMatch(/facegate_webhook_deliveries_total\{outcome="delivered"\} 4/);
    expect(metrics.text).toMatch(/facegate_webhook_deliveries_total\{outcome="failed"\} 8/);
    expect(metrics.text).toMatch(/facegate_events_recorded_total\{source="api"\} \d+/);
  });

  test("a generated whsec_ secret: each delivery passes the Standard Webhooks verifier as the secret is given", async () => {
    const r = receiver(() => 200);
    rcv = r;
    const put = await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: r.url } });
    const secret = put.body.secret as string;
    const id = await record();
    await until(() => r.delivered().has(id), 10_000, "delivery");
    const got = r.got.find((g) => g.id === id)!;
    expect(new Webhook(secret).verify(got.body, got.headers)).toMatchObject({ id, type: "identified" });
    expect(Math.abs(Number(got.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(verifySignature(secret, got.body, got.signature)).toBe(true); // today's header still verifies
  });

  test("back-off: attempts are spaced, growing, and jittered", async () => {
    const times: number[] = [];
    const r = receiver(() => {
      times.push(performance.now());
      return times.length <= 4 ? 500 : 200;
    });
    rcv = r;
    await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: r.url, secret: SECRET } });
    await record();
    await until(() => r.delivered().size === 1, 30_000, "delivery");
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // base 50 ms doubled per attempt (50, 100, 200, 400 capped), each drawn from 50-100 % of its step
    expect(gaps[0]).toBeGreaterThanOrEqual(20);
    expect(gaps[2]).toBeGreaterThanOrEqual(90);
    expect(gaps[3]).toBeGreaterThanOrEqual(190);
  });

  test("an event nobody accepts becomes a dead letter; visible, counted, and re-queued once the receiver works", async () => {
    await srv.stop();
    srv = await startTestServer({ sqlite: true, integration: { retryBaseMs: 50, retryHours: 0 }, keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] }) });
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } });
    await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: "ann", face_id: "f1", image: b64(img) } });
    let healthy = false;
    const r = receiver(() => (healthy ? 200 : 500));
    rcv = r;
    await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: r.url, secret: SECRET } });
    const id = await record();
    await until(async () => (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body.dead_letters === 1, 10_000, "dead letter");
    const status = (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body;
    expect(status).toMatchObject({ pending: 0, dead_letters: 1, last_error: "HTTP 500" });
    expect(status.recent_dead_letters[0]).toMatchObject({ event_id: id, attempts: 1, last_error: "HTTP 500" });
    // the gauges are refreshed at most once a second
    await until(async () => /facegate_webhook_dead_letters 1/.test((await srv.call("GET", "/metrics", { key: ADMIN })).text), 5000, "dead-letter gauge");
    healthy = true;
    expect((await srv.call("POST", "/v1/companies/acme/webhook/retry", { key: ACME })).body).toEqual({ requeued: 1 });
    await until(() => r.delivered().has(id), 10_000, "re-queued delivery");
    await until(async () => (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body.dead_letters === 0, 5000, "no dead letters");
  });

  test("an unreachable receiver counts as a failure, shown as the last error", async () => {
    await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: "http://127.0.0.1:9/nothing-listens-here", secret: SECRET } });
    await record();
    await until(async () => (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body.last_error !== null, 10_000, "an error");
    const s = (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body;
    expect(s.pending + s.dead_letters).toBeGreaterThanOrEqual(1);
  });

  test("PUT validation, generated secrets, other companies, DELETE", async () => {
    for (const json of [{ url: "ftp://x.example/hook", secret: SECRET }, { url: "not a url", secret: SECRET }, { url: "http://x.example", secret: "short" }, {}]) {
      const r = await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json });
      expect([JSON.stringify(json), r.status, r.body.error.code]).toEqual([JSON.stringify(json), 400, "INVALID_ARGUMENT"]);
    }
    expect((await srv.call("PUT", "/v1/companies/nope/webhook", { key: ADMIN, json: { url: "http://x.example" } })).body.error.code).toBe("COMPANY_NOT_FOUND");
    expect((await srv.call("PUT", "/v1/companies/quiet/webhook", { key: ACME, json: { url: "http://x.example" } })).status).toBe(403);
    const gen = await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: "http://x.example/h" } });
    expect(gen.status).toBe(200);
    expect(gen.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(gen.body.secret_hint).toBe(gen.body.secret.slice(-4));
    expect((await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body.secret).toBeUndefined();
    const notBase64 = await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: "http://x.example/h", secret: "whsec_not base64 at all!!" } });
    expect([notBase64.status, notBase64.body.error.code]).toEqual([400, "INVALID_ARGUMENT"]);
    expect((await srv.call("DELETE", "/v1/companies/acme/webhook", { key: ACME })).body).toEqual({ deleted: true });
    expect((await srv.call("DELETE", "/v1/companies/acme/webhook", { key: ACME })).body).toEqual({ deleted: false });
    expect((await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).status).toBe(404);
    expect((await srv.call("GET", "/v1/companies/quiet/webhook", { key: ADMIN })).status).toBe(404);
  });

  test("events recorded before the webhook existed are not sent; the log keeps them", async () => {
    const before = await record();
    const r = receiver(() => 200);
    rcv = r;
    await srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url: r.url, secret: SECRET } });
    const after = await record();
    await until(() => r.delivered().has(after), 10_000, "delivery");
    expect(r.delivered().has(before)).toBe(false);
  });
});

describe("webhooks across a SIGKILL of the server process", () => {
  let dir = "";
  let server: ServerProcess | undefined;
  afterAll(async () => {
    if (server) await server.stop("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("every event arrives after a restart; duplicates only for deliveries in flight at the kill", async () => {
    dir = mkdtempSync(join(tmpdir(), "facegate-webhook-kill-"));
    const env = {
      DATA_DIR: dir,
      API_KEYS: JSON.stringify({ [ADMIN]: ["*"] }),
      WEBHOOK_RETRY_BASE_MS: "100",
      WEBHOOK_RETRY_MAX_MS: "500",
      WEBHOOK_CONCURRENCY: "3",
    };
    let phase: "hold" | "ok" = "hold";
    const r = receiver(() => (phase === "hold" ? "hold" : 200));
    try {
      server = await startServerProcess(env);
      const url = server.url;
      expect((await call(url, "POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } })).status).toBe(201);
      expect((await call(url, "POST", "/v1/companies/acme/users", { key: ADMIN, json: { user_id: "ann", face_id: "f1", image: b64(img) } })).status).toBe(201);
      expect((await call(url, "PUT", "/v1/companies/acme/webhook", { key: ADMIN, json: { url: r.url, secret: SECRET } })).status).toBe(200);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const rec = await call(url, "POST", "/v1/companies/acme/recognize", { key: ADMIN, json: { image: b64(img), record: true, kiosk_id: `k${i}` } });
        expect(rec.status).toBe(200);
        ids.push(rec.body.event_id);
      }
      // deliveries are in flight (the receiver holds them): kill the server now
      await until(() => r.got.length >= 3, 10_000, "deliveries in flight");
      const inFlightAtKill = new Set(r.got.map((g) => g.id));
      expect(await server.stop("SIGKILL")).not.toBe(0);
      server = undefined;
      phase = "ok";

      server = await startServerProcess(env);
      await until(() => r.delivered().size === ids.length, 30_000, "every event delivered after the restart");
      expect([...r.delivered()].sort()).toEqual([...ids].sort());
      // duplicates (an id received more than once) only for what was in flight when the server died
      const seen = new Map<string, number>();
      for (const g of r.got) seen.set(g.id, (seen.get(g.id) ?? 0) + 1);
      const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
      expect(duplicated.length).toBeGreaterThan(0);
      for (const id of duplicated) expect(inFlightAtKill.has(id)).toBe(true);
      for (const g of r.got) expect(verifySignature(SECRET, g.body, g.signature)).toBe(true);
      // the log kept every event, and the outbox is empty
      const listed = await call(server.url, "GET", "/v1/companies/acme/events?order=asc", { key: ADMIN });
      expect(listed.body.events.map((e: { id: string }) => e.id)).toEqual(ids);
      await until(async () => (await call(server!.url, "GET", "/v1/companies/acme/webhook", { key: ADMIN })).body.pending === 0, 10_000, "empty outbox");
      expect(await server.stop("SIGTERM")).toBe(0);
      server = undefined;
    } finally {
      await r.stop();
    }
  }, 120_000);
});
