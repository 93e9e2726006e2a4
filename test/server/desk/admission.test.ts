/**
 * Overload protection through the real server: the bounded admission limiter in front of the
 * engine-bound routes (MAX_INFLIGHT running, MAX_QUEUE waiting, 503 UNAVAILABLE + Retry-After
 * beyond, 503 TIMEOUT for a request whose deadline passes in the queue, cheap routes bypass it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FaceError, type FaceApi } from "../../../lib/core/mod.ts";
import { HttpFaceClient } from "../../../server/http/client.ts";
import { AdmissionLimiter } from "../../../server/desk/limits.ts";
import { call, sample, startTestServer, type Reply, type TestServer } from "../harness.ts";

const group1 = sample(1);
const jpeg = { "Content-Type": "image/jpeg" };

/** One value of a metric line (`name{labels} value`) in Prometheus text; NaN when absent. */
function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

async function waitFor(srv: TestServer, series: string, value: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let seen = Number.NaN;
  while (Date.now() < deadline) {
    seen = metric((await srv.call("GET", "/metrics")).text, series);
    if (seen === value) return;
    await Bun.sleep(10);
  }
  throw new Error(`${series} stayed at ${seen}, expected ${value}`);
}

/** The gallery as the API shows it, minus the counters that move on every call. */
async function galleryView(srv: TestServer): Promise<unknown> {
  const stats = (await srv.call("GET", "/v1/stats?detail=companies")).body;
  const faces = (await srv.call("GET", "/v1/companies/acme/users/ann/faces")).body;
  return { ...stats, uptime_seconds: 0, total_tasks_processed: 0, faces };
}

describe("a burst of real recognitions with MAX_INFLIGHT=1, MAX_QUEUE=1", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ config: { maxInflight: 1, maxQueue: 1 } });
    expect((await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } })).status).toBe(201);
    const enrolled = await srv.call("POST", "/v1/companies/acme/users?user_id=ann&face_id=1", { body: group1, headers: jpeg });
    expect(enrolled.status).toBe(201);
  });
  afterAll(async () => {
    await srv?.stop();
  });

  test("some get 503 UNAVAILABLE with Retry-After at once, the rest 200; health and gallery unchanged", async () => {
    const before = await galleryView(srv);
    const burst = await Promise.all(
      Array.from({ length: 12 }, () => srv.call("POST", "/v1/companies/acme/recognize", { body: group1, headers: jpeg })),
    );
    const ok = burst.filter((r) => r.status === 200);
    const busy = burst.filter((r) => r.status === 503);
    expect(ok.length + busy.length).toBe(burst.length); // nothing else: no 500, no hang
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r.body.user_id).toBe("ann");
    for (const r of busy) {
      expect(r.body.error.code).toBe("UNAVAILABLE");
      expect(r.body.error.message).toContain("server busy");
      const retryAfter = Number(r.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
    }

    expect((await srv.call("GET", "/v1/health")).status).toBe(200);
    expect(await galleryView(srv)).toEqual(before);
    const m = (await srv.call("GET", "/metrics")).text;
    expect(metric(m, 'facegate_admission_rejected_total{reason="queue_full"}')).toBe(busy.length);
    expect(metric(m, "facegate_admission_admitted_total")).toBe(ok.length + 1); // + the enrollment
    expect(metric(m, "facegate_admission_in_flight")).toBe(0);
    expect(metric(m, "facegate_admission_queued")).toBe(0);
    expect(metric(m, 'facegate_admission_limit{kind="in_flight"}')).toBe(1);
    expect(metric(m, 'facegate_errors_total{code="UNAVAILABLE"}')).toBe(busy.length);
    // and it still serves once the burst is over
    const after = await srv.call("POST", "/v1/companies/acme/recognize", { body: group1, headers: jpeg });
    expect(after.status).toBe(200);
  });
});

describe("queue and deadline, with the engine held (real service behind a gate)", () => {
  let srv: TestServer;
  let openGate: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  let detectCalls = 0;

  beforeAll(async () => {
    srv = await startTestServer({
      config: { maxInflight: 1, maxQueue: 1, requestTimeoutMs: 1500 },
      // detectFaces waits for the test to open the gate, then runs for real: it holds the only slot.
      wrap: (api) =>
        new Proxy(api, {
          get(target, name) {
            const value = Reflect.get(target, name, target) as unknown;
            if (name === "detectFaces") {
              return async (...args: Parameters<FaceApi["detectFaces"]>) => {
                detectCalls++;
                await gate;
                return target.detectFaces(...args);
              };
            }
            return typeof value === "function" ? value.bind(target) : value;
          },
        }),
    });
  });
  afterAll(async () => {
    openGate();
    await srv?.stop();
  });

  const detect = (signal?: AbortSignal): Promise<Reply> => call(srv.url, "POST", "/v1/detect", { body: group1, headers: jpeg, signal });

  test("full: 503 at once; queued past the deadline: 503 TIMEOUT without running; the slot is kept until the work ends", async () => {
    const a = detect(); // takes the slot, held at the gate
    await waitFor(srv, "facegate_admission_in_flight", 1);
    const b = detect(); // waits in the queue
    await waitFor(srv, "facegate_admission_queued", 1);

    // Full: refused immediately (the gate is still closed, so this cannot be a slow answer).
    const c = await detect();
    expect(c.status).toBe(503);
    expect(c.body.error.code).toBe("UNAVAILABLE");
    expect(Number(c.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // Cheap routes bypass the limiter while it is full.
    expect((await srv.call("GET", "/v1/health")).status).toBe(200);
    expect((await srv.call("GET", "/v1/stats?detail=companies")).status).toBe(200);
    expect((await srv.call("GET", "/v1/companies/acme/users/ann/faces")).status).toBe(200);
    const compare = await srv.call("POST", "/v1/compare", {
      json: { query_embedding: [1, 0], reference_embeddings: [{ id: "x", embedding: [1, 0] }] },
    });
    expect(compare.status).toBe(200);
    expect((await srv.call("DELETE", "/v1/companies/nobody")).status).toBe(200);

    // B's deadline passes while it waits: TIMEOUT, and its work never starts.
    const queued = await b;
    expect(queued.status).toBe(503);
    expect(queued.body.error.code).toBe("TIMEOUT");
    expect(queued.body.error.message).toContain("in the queue; the work was not started");
    expect(Number(queued.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // A times out too (inference cannot be interrupted) but keeps the slot: its work is still on the engine.
    const running = await a;
    expect(running.status).toBe(503);
    expect(running.body.error.code).toBe("TIMEOUT");
    expect(detectCalls).toBe(1);
    let m = (await srv.call("GET", "/metrics")).text;
    expect(metric(m, "facegate_admission_in_flight")).toBe(1);
    expect(metric(m, "facegate_admission_queued")).toBe(0);
    expect(metric(m, 'facegate_admission_rejected_total{reason="queue_full"}')).toBe(1);
    expect(metric(m, 'facegate_admission_rejected_total{reason="timeout"}')).toBe(1);

    // A client that leaves while queued frees its place without running.
    const leaving = new AbortController();
    const d = detect(leaving.signal).catch(() => "aborted");
    await waitFor(srv, "facegate_admission_queued", 1);
    leaving.abort();
    expect(await d).toBe("aborted");
    await waitFor(srv, "facegate_admission_queued", 0);
    await waitFor(srv, 'facegate_admission_rejected_total{reason="client_gone"}', 1);

    // The engine finishes A's work: the slot frees and the next request runs normally.
    openGate();
    await waitFor(srv, "facegate_admission_in_flight", 0);
    const e = await detect();
    expect(e.status).toBe(200);
    expect(e.body.faces_count).toBeGreaterThan(1);
    expect(detectCalls).toBe(2); // A and E: B, C and D never reached the service
    m = (await srv.call("GET", "/metrics")).text;
    expect(metric(m, "facegate_admission_admitted_total")).toBe(2);
  });
});

describe("HttpFaceClient under admission control", () => {
  test("retries a 503 with Retry-After (nothing ran) until it gets through", async () => {
    const srv = await startTestServer({ config: { maxInflight: 1, maxQueue: 0 } });
    try {
      const client = new HttpFaceClient({ url: srv.url });
      const results = await Promise.all(Array.from({ length: 3 }, () => client.detectFaces({ image: group1 })));
      for (const r of results) expect(r.facesCount).toBeGreaterThan(1);
      const m = (await srv.call("GET", "/metrics")).text;
      expect(metric(m, 'facegate_admission_rejected_total{reason="queue_full"}')).toBeGreaterThanOrEqual(1);
      expect(metric(m, "facegate_admission_admitted_total")).toBe(3);
    } finally {
      await srv.stop();
    }
  });
});

describe("MAX_INFLIGHT=0: no admission control", () => {
  test("concurrent requests all run", async () => {
    const srv = await startTestServer({ config: { maxInflight: 0, maxQueue: 0 } });
    try {
      const replies = await Promise.all(Array.from({ length: 4 }, () => srv.call("POST", "/v1/detect", { body: group1, headers: jpeg })));
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect((await srv.call("GET", "/metrics")).text).toContain('facegate_admission_limit{kind="in_flight"} 0');
    } finally {
      await srv.stop();
    }
  });
});

describe("AdmissionLimiter (unit)", () => {
  test("FIFO hand-over, refusal when full, release is idempotent", async () => {
    const limiter = new AdmissionLimiter(1, 2);
    const first = await limiter.acquire();
    const order: string[] = [];
    const second = limiter.acquire().then((release) => {
      order.push("second");
      return release;
    });
    const third = limiter.acquire().then((release) => {
      order.push("third");
      return release;
    });
    expect(limiter.full).toBe(true);
    await expect(limiter.acquire()).rejects.toMatchObject({ code: "UNAVAILABLE", details: { retryAfterSeconds: 1 } });
    first();
    first(); // a second release must not free another slot
    const r2 = await second;
    expect(limiter.snapshot()).toMatchObject({ inFlight: 1, queued: 1 });
    r2();
    (await third)();
    expect(order).toEqual(["second", "third"]);
    expect(limiter.snapshot()).toMatchObject({ inFlight: 0, queued: 0, admitted: 3, rejected: { queueFull: 1, timeout: 0, clientGone: 0 } });
  });
  test("an aborted waiter leaves the queue; an already-aborted signal never waits", async () => {
    const limiter = new AdmissionLimiter(1, 4);
    const held = await limiter.acquire();
    const deadline = new AbortController();
    const waiting = limiter.acquire(deadline.signal);
    expect(limiter.snapshot().queued).toBe(1);
    deadline.abort(new FaceError("TIMEOUT", "too slow"));
    await expect(waiting).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(limiter.snapshot().queued).toBe(0);
    await expect(limiter.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: "UNAVAILABLE" });
    held();
    expect(limiter.snapshot()).toMatchObject({ inFlight: 0, rejected: { timeout: 1, clientGone: 1 } });
  });
});
