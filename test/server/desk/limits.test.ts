/** Limits through the real server: body size, image pixels, rate limit, request timeout, huge headers, CORS. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys } from "../../../server/http/auth.ts";
import { RateLimiter, withDeadline } from "../../../server/desk/limits.ts";
import { b64, paddedJson, rawHttp, startTestServer, tooWidePng, type TestServer, sample } from "../harness.ts";

const group1 = sample(1);
const MAX = 256 * 1024;
let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ config: { maxBodyBytes: MAX } });
});
afterAll(async () => {
  await srv?.stop();
});

function chunked(total: number, chunk = 16 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      controller.enqueue(new Uint8Array(n).fill(0x41));
      sent += n;
    },
  });
}

describe("body size", () => {
  test("413 PAYLOAD_TOO_LARGE from Content-Length, before reading", async () => {
    const r = await srv.call("POST", "/v1/detect", { body: paddedJson(MAX + 1), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(r.body.error.message).toContain(String(MAX));
  });
  test("413 when streamed without Content-Length (counted while reading)", async () => {
    const res = await fetch(`${srv.url}/v1/detect`, {
      method: "POST",
      headers: { "Content-Type": "image/jpeg" },
      body: chunked(MAX * 3),
      // @ts-expect-error Bun and Node accept duplex for streamed request bodies
      duplex: "half",
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
  });
  test("a body of exactly the limit is read (and then judged on its content)", async () => {
    const r = await srv.call("POST", "/v1/detect", { body: paddedJson(MAX), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("INVALID_IMAGE");
  });
  test("multipart bodies are limited as a whole", async () => {
    const form = new FormData();
    form.set("image", new Blob([new Uint8Array(MAX + 10)]), "big.jpg");
    const r = await srv.call("POST", "/v1/detect", { body: form });
    expect(r.status).toBe(413);
  });
});

describe("image pixels", () => {
  test("413 IMAGE_TOO_LARGE on the header, whatever the encoding", async () => {
    const png = await tooWidePng();
    expect(png.length).toBeLessThan(MAX);
    const raw = await srv.call("POST", "/v1/detect", { body: png, headers: { "Content-Type": "image/png" } });
    expect(raw.body.error.code).toBe("IMAGE_TOO_LARGE");
    const json = await srv.call("POST", "/v1/embed", { json: { image: b64(png) } });
    expect(json.status).toBe(413);
    expect(json.body.error.code).toBe("IMAGE_TOO_LARGE");
  });
});

describe("rate limit", () => {
  test("per key: 429 with Retry-After; other keys unaffected; public routes exempt", async () => {
    const keys = new ApiKeys({ "key-aaaa-0001": ["*"], "key-bbbb-0001": ["*"] }, false);
    const limited = await startTestServer({ keys, config: { rateLimitPerMinute: 3 } });
    try {
      const ok = [];
      for (let i = 0; i < 3; i++) ok.push(await limited.call("GET", "/v1/companies/a/users/b/faces", { key: "key-aaaa-0001" }));
      expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(ok.map((r) => r.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0"]);
      const refused = await limited.call("GET", "/v1/companies/a/users/b/faces", { key: "key-aaaa-0001" });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe("RATE_LIMITED");
      const retryAfter = Number(refused.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(20); // 3 per minute: one token every 20 s
      expect((await limited.call("GET", "/v1/companies/a/users/b/faces", { key: "key-bbbb-0001" })).status).toBe(200);
      expect((await limited.call("GET", "/v1/health")).status).toBe(200);
      const metrics = await limited.call("GET", "/metrics", { key: "key-bbbb-0001" });
      expect(metrics.text).toMatch(/facegate_rate_limited_total 1/);
    } finally {
      await limited.stop();
    }
  });
  test("open mode: per client address", async () => {
    const limited = await startTestServer({ config: { rateLimitPerMinute: 2 } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await limited.call("POST", "/v1/detect", { json: {} })).status);
      expect(statuses).toEqual([400, 400, 429]);
    } finally {
      await limited.stop();
    }
  });
});

describe("request timeout", () => {
  test("503 TIMEOUT when the work outlasts REQUEST_TIMEOUT_MS; the server keeps serving", async () => {
    const slow = await startTestServer({ config: { requestTimeoutMs: 5 } });
    try {
      const r = await slow.call("POST", "/v1/companies/x/recognize", { json: { image: b64(group1) } });
      // the unknown company answers without engine work; create it so recognition has to run
      expect(r.status).toBe(200);
      await slow.call("POST", "/v1/companies", { json: { company_id: "x" } });
      const t = await slow.call("POST", "/v1/companies/x/recognize", { json: { image: b64(group1) } });
      expect(t.status).toBe(503);
      expect(t.body.error.code).toBe("TIMEOUT");
      expect((await slow.call("GET", "/v1/health")).status).toBe(200);
      const m = await slow.call("GET", "/metrics");
      expect(m.text).toContain('facegate_errors_total{code="TIMEOUT"} 1');
    } finally {
      await slow.stop();
    }
  });
});

describe("headers", () => {
  test("huge headers are refused by the transport without harming the server", async () => {
    const reply = await rawHttp(srv.url, `GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(200_000)}\r\n\r\n`);
    expect(reply).not.toContain("200 OK");
    let status = 0;
    try {
      status = (await fetch(`${srv.url}/v1/health`, { headers: { "X-Big": "b".repeat(100_000) } })).status;
    } catch {
      status = -1; // the connection was closed: also a refusal
    }
    expect(status).not.toBe(200);
    expect((await srv.call("GET", "/v1/health")).status).toBe(200);
  });
  test("an over-long request id is replaced, not echoed", async () => {
    const r = await srv.call("GET", "/v1/health", { headers: { "X-Request-Id": "x".repeat(500) } });
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("CORS", () => {
  test("configured origins get CORS headers (preflight too); others and unconfigured servers do not", async () => {
    const cors = await startTestServer({ config: { corsOrigins: ["https://app.example.com"] } });
    try {
      const pre = await fetch(`${cors.url}/v1/detect`, {
        method: "OPTIONS",
        headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,content-type" },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-api-key");
      const get = await fetch(`${cors.url}/v1/health`, { headers: { Origin: "https://app.example.com" } });
      expect(get.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(get.headers.get("access-control-expose-headers")).toContain("Retry-After");
      const other = await fetch(`${cors.url}/v1/health`, { headers: { Origin: "https://evil.example.com" } });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await cors.stop();
    }
    const plain = await fetch(`${srv.url}/v1/health`, { headers: { Origin: "https://app.example.com" } });
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("RateLimiter and withDeadline (units)", () => {
  test("token bucket: a burst of the full minute, then refills continuously", () => {
    let now = 0;
    const limiter = new RateLimiter(60, 60, () => now); // one per second
    for (let i = 0; i < 60; i++) expect(limiter.take("k").ok).toBe(true);
    const refused = limiter.take("k");
    expect(refused).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.take("k").ok).toBe(false);
    now += 600;
    expect(limiter.take("k").ok).toBe(true);
    expect(limiter.take("other").ok).toBe(true);
    expect(new RateLimiter(0).take("k").ok).toBe(true);
  });
  test("withDeadline: TIMEOUT after the limit; a late failure is swallowed", async () => {
    await expect(withDeadline(Bun.sleep(50).then(() => 1), 5)).rejects.toMatchObject({ code: "TIMEOUT" });
    await expect(withDeadline(Promise.resolve(2), 1000)).resolves.toBe(2);
    await expect(withDeadline(Bun.sleep(20).then(() => { throw new Error("late"); }), 1)).rejects.toMatchObject({ code: "TIMEOUT" });
    await Bun.sleep(30); // the late rejection must not surface as unhandled
  });
});
