/**
 * The global body budget and the rate-limit burst, over real sockets: uploads held open reserve
 * their declared length before a byte is read; beyond a key's share 429, beyond the budget 503,
 * both with Retry-After and without reading the body; released when the requests end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { BodyBudget, bytesToReserve } from "../../../../server/http/middleware/body-budget.ts";
import { startTestServer, type TestServer } from "../../harness.ts";

const MB = 1024 * 1024;
const K1 = "budget-key-0001";
const K2 = "budget-key-0002";
const K3 = "budget-key-0003";

/** A POST whose headers declare `length` bytes and whose body never comes: the server waits on it. */
async function heldUpload(url: string, path: string, key: string, length: number): Promise<{ answer: Promise<string>; close(): void }> {
  const { hostname, port } = new URL(url);
  let received = "";
  let done: (s: string) => void = () => {};
  const answer = new Promise<string>((r) => (done = r));
  const socket: Socket<undefined> = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_s, d) {
        received += new TextDecoder().decode(d);
        if (received.includes("\r\n\r\n")) done(received);
      },
      close() {
        done(received);
      },
      error() {
        done(received);
      },
    },
  });
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"image":"`);
  return { answer, close: () => socket.end() };
}

const held = async (srv: TestServer): Promise<number> => {
  const text = (await srv.call("GET", "/metrics", { key: K1 })).text;
  return Number(/^facegate_body_budget_held_bytes (\d+)/m.exec(text)?.[1]);
};

let srv: TestServer;
beforeAll(async () => {
  // budget 4 MB, 1 MB bodies: one key may hold 2 MB
  srv = await startTestServer({
    keys: new ApiKeys({ [K1]: ["*"], [K2]: ["*"], [K3]: ["*"] }),
    config: { maxBodyBytes: MB, bodyBudgetBytes: 4 * MB, requestTimeoutMs: 20_000 },
  });
});
afterAll(async () => {
  await srv?.stop();
});

describe("body budget (BODY_BUDGET_BYTES)", () => {
  test("a key's share, then the whole budget; refused before reading, with Retry-After; released at the end", async () => {
    const a = await heldUpload(srv.url, "/v1/detect", K1, MB - 100);
    const b = await heldUpload(srv.url, "/v1/detect", K1, MB - 100);
    await Bun.sleep(100);
    expect(await held(srv)).toBe(2 * (MB - 100));

    // K1 holds its share (half the budget): its next upload is refused at once, body unread.
    const third = await heldUpload(srv.url, "/v1/detect", K1, MB - 100);
    const answer = await third.answer;
    expect(answer).toMatch(/^HTTP\/1\.1 429/);
    expect(answer).toMatch(/Retry-After: 1/i);
    third.close();

    // Another key still gets its share...
    const c = await heldUpload(srv.url, "/v1/detect", K2, MB - 100);
    const d = await heldUpload(srv.url, "/v1/detect", K2, MB - 100);
    await Bun.sleep(100);
    // ...and now the budget is full: anyone gets 503 UNAVAILABLE with Retry-After.
    const full = await srv.call("POST", "/v1/detect", { key: K3, json: { image: "A".repeat(1000) } });
    expect(full.status).toBe(503);
    expect(full.body.error.code).toBe("UNAVAILABLE");
    expect(full.body.error.message).toMatch(/budget/);
    expect(full.headers.get("retry-after")).toBe("1");
    // routes without a body are not affected
    expect((await srv.call("GET", "/v1/companies/x/users/y/faces", { key: K3 })).status).toBe(200);

    for (const s of [a, b, c, d]) s.close();
    await Bun.sleep(200);
    expect(await held(srv)).toBe(0);
    const after = await srv.call("POST", "/v1/compare", { key: K3, json: { query_embedding: [1, 0], reference_embeddings: [] } });
    expect(after.status).toBe(200);
    const metrics = (await srv.call("GET", "/metrics", { key: K1 })).text;
    expect(metrics).toMatch(/facegate_body_budget_refused_total\{reason="key_share"\} 1/);
    expect(metrics).toMatch(/facegate_body_budget_refused_total\{reason="full"\} 1/);
  });

  test("one key firing 50 held uploads holds at most its share", async () => {
    const uploads = await Promise.all(Array.from({ length: 50 }, () => heldUpload(srv.url, "/v1/embed", K1, 400_000)));
    await Bun.sleep(200);
    expect(await held(srv)).toBeLessThanOrEqual(2 * MB);
    const refused = (await Promise.all(uploads.map((u) => Promise.race([u.answer, Bun.sleep(300).then(() => "")])))).filter((a) => a.startsWith("HTTP/1.1 429"));
    expect(refused.length).toBe(50 - Math.floor((2 * MB) / 400_000));
    for (const u of uploads) u.close();
    await Bun.sleep(200);
    expect(await held(srv)).toBe(0);
  });

  test("units: what is reserved", () => {
    const req = (headers: Record<string, string>, body?: string) => new Request("http://x/", { method: "POST", headers, body });
    expect(bytesToReserve(req({ "content-length": "1000" }, "x".repeat(1000)), MB)).toBe(1000);
    expect(bytesToReserve(req({ "content-length": String(2 * MB) }), MB)).toBe(0); // 413 follows without reading
    expect(bytesToReserve(new Request("http://x/"), MB)).toBe(0);
    const budget = new BodyBudget(3 * MB, MB);
    expect(budget.perKey).toBe(Math.floor(1.5 * MB));
    const release = budget.reserve(MB, "k");
    expect(() => budget.reserve(MB, "k")).toThrow(/share/);
    release();
    release(); // idempotent
    expect(budget.snapshot().held).toBe(0);
    expect(new BodyBudget(1, MB).capacity).toBe(MB); // never below one body
  });
});

describe("rate-limit burst (RATE_LIMIT_BURST)", () => {
  test("a burst of RATE_LIMIT_BURST, then the steady rate; default 240, no longer the whole minute", async () => {
    // 6 a minute: one token every 10 s, so no refill lands inside the burst however slow the machine.
    const burst = await startTestServer({ keys: new ApiKeys({ [K1]: ["*"] }), config: { rateLimitPerMinute: 6, rateLimitBurst: 5 } });
    try {
      const replies = [];
      for (let i = 0; i < 6; i++) replies.push(await burst.call("GET", "/v1/companies/a/users/b/faces", { key: K1 }));
      expect(replies.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(replies[5].status).toBe(429);
      // the steady rate: the next token in 60/6 s (minus the time the burst took)
      const retryAfter = Number(replies[5].headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(10);
    } finally {
      await burst.stop();
    }
  });
});
