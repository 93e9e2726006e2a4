/**
 * The kiosk WebSocket against the real server (real engine, real frames, real sockets): auth,
 * bad frames and control messages, flood and drop counts, idle timeout, concurrent sessions,
 * decisions across frames and the `identified` event.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CLOSE_CODES, KEY_SUBPROTOCOL_PREFIX, KIOSK_SUBPROTOCOL, type ServerMessage } from "../../../server/kiosk/mod.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import {
  ADMIN_KEY,
  HAM_KEY,
  KIOSK_KEY,
  OTHER_KEY,
  PERFORMER,
  TestClient,
  hamiltonFrame,
  readyClient,
  sharedService,
  startKioskStack,
  type KioskStack,
} from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeDatasets("kiosk websocket", () => {
  let stack: KioskStack;

  beforeAll(async () => {
    await sharedService();
    stack = await startKioskStack({ kiosk: { maxFrameBytes: 256 * 1024, cooldownMs: 60_000 } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  // ---------------------------------------------------------------- auth

  test("a key for the company in the URL gets ready with the default settings", async () => {
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    const ready = c.of("ready")[0];
    expect(ready.companyId).toBe("ham");
    expect(ready.settings).toMatchObject({ confirmFrames: 3, windowFrames: 5, cooldownMs: 60_000, threshold: null });
    expect(ready.limits.maxFrameBytes).toBe(256 * 1024);
    expect(ready.sessionId.length).toBeGreaterThan(4);
    c.close();
  }, 60_000);

  test("an admin key, a recognize-only key, the X-API-Key header and the subprotocol work too", async () => {
    const admin = await readyClient(stack.wsUrl({ company: "ham", key: ADMIN_KEY }));
    admin.close();
    const kiosk = await readyClient(stack.wsUrl({ company: "ham", key: KIOSK_KEY }));
    kiosk.close();

    const header = new TestClient(stack.wsUrl({ company: "ham" }), { headers: { "X-API-Key": HAM_KEY } });
    expect((await header.next("ready")).companyId).toBe("ham");
    header.close();

    // Browsers cannot set headers: the key rides in the subprotocol list; the server answers facegate.v1.
    const proto = new TestClient(stack.wsUrl({ company: "ham" }), { protocols: [KIOSK_SUBPROTOCOL, `${KEY_SUBPROTOCOL_PREFIX}${KIOSK_KEY}`] });
    expect((await proto.next("ready")).companyId).toBe("ham");
    expect(proto.ws.protocol).toBe(KIOSK_SUBPROTOCOL);
    // The old first-message auth is answered, not needed: the session is authenticated from the start.
    proto.sendJson({ type: "auth", key: HAM_KEY });
    expect((await proto.next("error")).code).toBe("INVALID_ARGUMENT");
    proto.sendJson({ type: "ping", t: 42 });
    expect((await proto.next("pong")).t).toBe(42);
    proto.close();
  }, 60_000);

  test("another company's key is refused at the upgrade, before any frame is processed", async () => {
    const before = stack.kiosk.totals().framesProcessed;
    const started = stack.kiosk.totals().sessionsStarted;
    const tasksBefore = (await stack.service.getCacheStats()).totalTasksProcessed;

    for (const client of [
      new TestClient(stack.wsUrl({ company: "ham", key: OTHER_KEY })),
      new TestClient(stack.wsUrl({ company: "ham" }), { headers: { "X-API-Key": OTHER_KEY } }),
      new TestClient(stack.wsUrl({ company: "ham" }), { protocols: [KIOSK_SUBPROTOCOL, `${KEY_SUBPROTOCOL_PREFIX}${OTHER_KEY}`] }),
    ]) {
      client.ws.addEventListener("open", () => client.sendFrame(hamiltonFrame(25)));
      expect((await client.closed).code).toBe(CLOSE_CODES.forbidden);
      expect(client.of("error")[0]?.code).toBe("FORBIDDEN");
      expect(client.of("result")).toHaveLength(0);
    }

    expect(stack.kiosk.totals().framesProcessed).toBe(before);
    expect(stack.kiosk.totals().sessionsStarted).toBe(started); // never a session
    // The service saw no recognition: only the first getCacheStats call itself was counted.
    expect((await stack.service.getCacheStats()).totalTasksProcessed).toBe(tasksBefore + 1);
  }, 60_000);

  test("missing or wrong keys are refused at the upgrade (4401), no company 4400, plain GET 426", async () => {
    const started = stack.kiosk.totals().sessionsStarted;
    const wrong = new TestClient(stack.wsUrl({ company: "ham", key: "not-a-key-at-all" }));
    expect((await wrong.closed).code).toBe(CLOSE_CODES.unauthorized);
    expect(wrong.of("error")[0]?.code).toBe("UNAUTHORIZED");

    const missing = new TestClient(stack.wsUrl({ company: "ham" }));
    missing.ws.addEventListener("open", () => missing.sendFrame(hamiltonFrame(25)));
    expect((await missing.closed).code).toBe(CLOSE_CODES.unauthorized);
    expect(missing.of("error")[0]?.message).toMatch(/missing API key/);
    expect(missing.of("result")).toHaveLength(0);

    const noCompany = new TestClient(stack.wsUrl({ key: HAM_KEY }));
    expect((await noCompany.closed).code).toBe(CLOSE_CODES.badRequest);
    expect(stack.kiosk.totals().sessionsStarted).toBe(started);

    const plain = await fetch(`${stack.url}/v1/kiosk/ws?company=ham`);
    expect(plain.status).toBe(426);
  }, 60_000);

  // ---------------------------------------------------------------- bad input

  test("garbage, truncated and oversized frames get errors and the session stays open", async () => {
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    const good = hamiltonFrame(25);

    c.sendFrame(new Uint8Array(1000).fill(7));
    const garbage = await c.next("error");
    expect(garbage).toMatchObject({ code: "INVALID_IMAGE", seq: 1 });

    c.sendFrame(good.slice(0, Math.floor(good.length / 2)));
    const truncated = await c.next("error");
    expect(truncated).toMatchObject({ code: "INVALID_IMAGE", seq: 2 });
    expect(truncated.message).toContain("truncated");

    const big = new Uint8Array(300 * 1024);
    big.set(good);
    c.sendFrame(big);
    expect(await c.next("error")).toMatchObject({ code: "IMAGE_TOO_LARGE", seq: 3 });

    // A JPEG header and end marker around noise: only the decoder can tell.
    const corrupt = new Uint8Array(5000).map((_, i) => (i * 31) & 0xff);
    corrupt.set([0xff, 0xd8, 0xff, 0xe0], 0);
    corrupt.set([0xff, 0xd9], corrupt.length - 2);
    c.sendFrame(corrupt);
    expect(await c.next("error")).toMatchObject({ code: "INVALID_IMAGE", seq: 4 });

    c.sendFrame(good);
    const result = await c.next("result");
    expect(result.seq).toBe(5);
    expect(result.faces.length).toBe(1);
    expect(stack.kiosk.sessions.size).toBeGreaterThanOrEqual(1);
    c.close();
  }, 60_000);

  test("a company that does not exist is refused (COMPANY_NOT_FOUND, 4404); an empty one is flagged in `ready` until someone is enrolled", async () => {
    const missing = new TestClient(stack.wsUrl({ company: "no-such-company", key: ADMIN_KEY }));
    const closed = await missing.closed;
    expect(closed.code).toBe(CLOSE_CODES.notFound);
    expect(missing.of("error")[0]).toMatchObject({ code: "COMPANY_NOT_FOUND" });
    expect(missing.of("error")[0].message).toContain("no-such-company");
    expect(missing.of("ready")).toHaveLength(0);

    await stack.service.createCompany({ companyId: "empty-co" });
    const empty = await readyClient(stack.wsUrl({ company: "empty-co", key: ADMIN_KEY }));
    expect(empty.of("ready")[0].company).toEqual({ users: 0 });
    // Someone is enrolled meanwhile: the next ping brings a `ready` that says so.
    await stack.service.createUser({ companyId: "empty-co", userId: "first", faceId: "f", image: hamiltonFrame(22) });
    empty.sendJson({ type: "ping", t: 1 });
    expect((await empty.next("ready")).company).toEqual({ users: 1 });
    empty.close();
    const ham = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    expect(ham.of("ready")[0].company?.users).toBeGreaterThanOrEqual(1);
    ham.close();
  });

  test("control messages are validated and settings stay within bounds", async () => {
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    c.ws.send("{not json");
    expect((await c.next("error")).code).toBe("INVALID_ARGUMENT");
    c.sendJson({ type: "dance" });
    expect((await c.next("error")).code).toBe("INVALID_ARGUMENT");
    c.sendJson({ type: "settings", confirmFrames: 100 });
    expect((await c.next("error")).message).toContain("confirmFrames");
    c.sendJson({ type: "settings", confirmFrames: 6 }); // more than windowFrames (5)
    expect((await c.next("error")).message).toContain("confirmFrames must not exceed windowFrames");
    c.sendJson({ type: "settings", threshold: 0.1 }); // below the floor
    expect((await c.next("error")).code).toBe("INVALID_ARGUMENT");
    // Liveness: on by default; a kiosk may ask for challenge mode, never turn it off.
    expect(c.of("ready")[0].settings).toMatchObject({ liveness: "passive", livenessEvidenceFrames: 2 });
    c.sendJson({ type: "settings", liveness: "off" });
    const off = await c.next("error");
    expect(off.code).toBe("FORBIDDEN");
    expect(off.message).toContain("KIOSK_LIVENESS");
    c.sendJson({ type: "settings", livenessEvidenceFrames: 1 });
    expect((await c.next("error")).message).toContain("livenessEvidenceFrames");
    c.sendJson({ type: "settings", liveness: "challenge", challengeActions: ["blink", "smile"] });
    expect((await c.next("ready")).settings).toMatchObject({ liveness: "challenge", challengeActions: ["blink", "smile"] });
    c.sendJson({ type: "settings", challengeActions: ["dance"] });
    expect((await c.next("error")).code).toBe("INVALID_ARGUMENT");
    c.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(5000) }));
    expect((await c.next("error")).message).toContain("limited");

    c.sendJson({ type: "settings", windowFrames: 7, confirmFrames: 4, threshold: 0.5, kioskId: "lobby" });
    const updated = await c.next("ready");
    expect(updated.settings).toMatchObject({ windowFrames: 7, confirmFrames: 4, threshold: 0.5, kioskId: "lobby" });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
  }, 60_000);

  // ---------------------------------------------------------------- decisions and events

  test("the performer is recognized after K of N frames, identified once, audience is unknown", async () => {
    const published = stack.published.length;
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY, kiosk: "stage-door" }));
    const states: string[] = [];
    for (let n = 19; n <= 39; n++) {
      c.sendFrame(hamiltonFrame(n));
      const r = await c.next("result");
      states.push(r.faces[0]?.state ?? "none");
    }
    // Frame 19 is below the threshold, 20-23 match: the votes are there at the third match (K=3);
    // then the face is recognized as soon as its landmarks show a live face (passive liveness, on
    // by default): the performer sings, so within a few frames.
    expect(states.slice(0, 3)).toEqual(["detecting", "verifying", "verifying"]);
    const first = states.indexOf("recognized");
    expect(first).toBeGreaterThanOrEqual(3);
    expect(first).toBeLessThanOrEqual(8);
    expect(states.slice(3, first).every((s) => s === "checking_liveness")).toBe(true);
    expect(states.filter((s) => s === "recognized").length).toBeGreaterThan(12);

    const identified = c.of("identified");
    expect(identified).toHaveLength(1);
    expect(identified[0].userId).toBe(PERFORMER);
    expect(identified[0].confidence).toBeGreaterThan(0.4);
    expect(identified[0].seq).toBe(first + 1);
    expect(identified[0].liveness).toMatchObject({ mode: "passive", state: "live", passive: { state: "live" } });

    const events = stack.published.slice(published);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "identified", companyId: "ham", userId: PERFORMER, kioskId: "stage-door" });
    expect(events[0].sessionId).toBe(c.of("ready")[0].sessionId);
    // The event log gets the evidence too.
    expect(events[0].liveness).toEqual(identified[0].liveness);

    // The audience: several faces, none enrolled → unknown after N frames each.
    let last = null as Awaited<ReturnType<typeof c.next<"result">>> | null;
    for (let n = 40; n <= 50; n++) {
      c.sendFrame(hamiltonFrame(n));
      last = await c.next("result");
    }
    expect(last?.faces.length).toBeGreaterThanOrEqual(3);
    expect(last?.faces.every((f) => f.state === "unknown" && f.userId === null)).toBe(true);

    // Back to the performer within the cooldown: recognized again, but no second identification.
    for (let n = 20; n <= 26; n++) {
      c.sendFrame(hamiltonFrame(n));
      await c.next("result");
    }
    expect(c.of("result").at(-1)?.faces[0]?.state).toBe("recognized");
    expect(c.of("identified")).toHaveLength(1);
    c.close();

    // Same kiosk name reconnecting shares the cooldown: still no second event.
    const again = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY, kiosk: "stage-door" }));
    for (let n = 20; n <= 24; n++) {
      again.sendFrame(hamiltonFrame(n));
      await again.next("result");
    }
    expect(again.of("identified")).toHaveLength(0);
    expect(stack.published.length - published).toBe(1);
    again.close();
  }, 60_000);

  test("another company's kiosk does not recognize the performer", async () => {
    const c = await readyClient(stack.wsUrl({ company: "other", key: OTHER_KEY }));
    for (let n = 20; n <= 26; n++) {
      c.sendFrame(hamiltonFrame(n));
      await c.next("result");
    }
    const states = c.of("result").map((r) => r.faces[0]?.state);
    expect(states.at(-1)).toBe("unknown");
    expect(c.of("result").every((r) => r.faces.every((f) => f.userId === null))).toBe(true);
    expect(c.of("identified")).toHaveLength(0);
    c.close();
  }, 60_000);

  // ---------------------------------------------------------------- load

  test("a flood keeps only the newest frame waiting: drops are counted, memory is bounded", async () => {
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    const session = [...stack.kiosk.sessions].find((s) => s.id === c.of("ready")[0].sessionId);
    expect(session).toBeDefined();
    const frames = [30, 31, 32, 33].map(hamiltonFrame);
    const sent = 80;
    for (let i = 0; i < sent; i++) c.sendFrame(frames[i % frames.length]);
    // The last frame is always processed: wait for its result.
    for (;;) {
      const r = await c.next("result");
      if (r.seq === sent) break;
    }
    const stats = session!.stats;
    const results = c.of("result");
    expect(stats.received).toBe(sent);
    expect(stats.dropped).toBeGreaterThan(sent / 2);
    expect(stats.processed + stats.dropped).toBe(sent);
    expect(results.length).toBe(stats.processed);
    expect(results.at(-1)?.dropped).toBe(stats.dropped);
    // At most one frame in flight and one waiting.
    const largest = Math.max(...frames.map((f) => f.byteLength));
    expect(stats.maxHeldBytes).toBeLessThanOrEqual(2 * largest);
    expect(stats.heldBytes).toBe(0);
    // Results arrive in increasing frame order.
    const seqs = results.map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    c.close();
  }, 60_000);

  test("many concurrent sessions all get their results; a garbage sender does not disturb them", async () => {
    const sessions = 12;
    const clients = await Promise.all(
      Array.from({ length: sessions }, () => readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }))),
    );
    const noisy = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    const noise = setInterval(() => noisy.sendFrame(new Uint8Array(2048).fill(1)), 5);
    try {
      // 13 sessions at once on 2 engine slots: frames beyond the kiosk share are shed (answered busy,
      // server/desk); a kiosk then sends its next frame, as the page does, until it has 3 results.
      let shed = 0;
      await Promise.all(
        clients.map(async (c, i) => {
          let seq = 0;
          for (let k = 0; c.of("result").length < 3; k++) {
            c.sendFrame(hamiltonFrame(20 + ((i + k) % 15)));
            seq++;
            const answer = await answerTo(c, seq);
            if (answer.type === "error") {
              expect(answer.code).toBe("UNAVAILABLE");
              expect(answer.message).toContain("shed");
              shed++;
            } else if (answer.type === "result") expect(answer.faces.length).toBe(1);
          }
        }),
      );
      expect(clients.reduce((n, c) => n + c.of("error").length, 0)).toBe(shed);
    } finally {
      clearInterval(noise);
    }
    for (const c of clients) expect(c.of("result")).toHaveLength(3);
    expect(noisy.of("error").length).toBeGreaterThan(0);
    expect(noisy.ws.readyState).toBe(WebSocket.OPEN);
    for (const c of [...clients, noisy]) c.close();
  }, 60_000);
});

/** The result or error about frame `seq` (waits for it: the condition, bounded by the test's timeout). */
async function answerTo(c: TestClient, seq: number): Promise<ServerMessage> {
  for (;;) {
    const m = c.messages.find((x) => (x.type === "result" || x.type === "error") && x.seq === seq);
    if (m) return m;
    if (c.ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for frame ${seq}'s answer`);
    await new Promise((resolve) => c.ws.addEventListener("message", resolve, { once: true }));
  }
}

describeDatasets("kiosk websocket limits", () => {
  test("an idle session is closed; pings keep it alive", async () => {
    const stack = await startKioskStack({ kiosk: { idleTimeoutMs: 400 } });
    try {
      const alive = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
      const idle = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
      for (let i = 0; i < 8; i++) {
        alive.sendJson({ type: "ping" });
        await sleep(100);
      }
      const closed = await idle.closed;
      expect(closed.code).toBe(CLOSE_CODES.timeout);
      expect(idle.of("error").at(-1)?.code).toBe("TIMEOUT");
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      alive.close();
    } finally {
      await stack.stop();
    }
  }, 60_000);

  test("sessions beyond KIOSK_MAX_SESSIONS are refused with 1013; open mode needs no key", async () => {
    const stack = await startKioskStack({ kiosk: { maxSessions: 2 }, apiKeys: {} });
    try {
      const a = await readyClient(stack.wsUrl({ company: "ham" }));
      const b = await readyClient(stack.wsUrl({ company: "ham" }));
      const c = new TestClient(stack.wsUrl({ company: "ham" }));
      expect((await c.closed).code).toBe(CLOSE_CODES.tryAgainLater);
      expect(c.of("error")[0]?.code).toBe("UNAVAILABLE");
      a.close();
      await a.closed;
      await sleep(50);
      const d = await readyClient(stack.wsUrl({ company: "ham" }));
      expect(stack.kiosk.sessions.size).toBe(2);
      b.close();
      d.close();
    } finally {
      await stack.stop();
    }
  }, 60_000);

  test("only authenticated sessions count toward KIOSK_MAX_SESSIONS; a per-address cap", async () => {
    const stack = await startKioskStack({ kiosk: { maxSessions: 2, maxSessionsPerAddress: 16 }, server: { authFailLimit: 0 } });
    try {
      // A crowd of unauthenticated connections (missing and wrong keys), held open as long as the server lets them.
      const crowd = Array.from({ length: 20 }, (_, i) => new TestClient(stack.wsUrl(i % 2 ? { company: "ham" } : { company: "ham", key: `wrong-key-${i}-0000` })));
      const a = await readyClient(stack.wsUrl({ company: "ham", key: KIOSK_KEY }));
      const b = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
      for (const c of crowd) expect((await c.closed).code).toBe(CLOSE_CODES.unauthorized);
      expect(stack.kiosk.sessions.size).toBe(2);
      const c = new TestClient(stack.wsUrl({ company: "ham", key: KIOSK_KEY }));
      expect((await c.closed).code).toBe(CLOSE_CODES.tryAgainLater);
      a.close();
      b.close();
    } finally {
      await stack.stop();
    }
    const perAddress = await startKioskStack({ kiosk: { maxSessions: 10, maxSessionsPerAddress: 2 } });
    try {
      const a = await readyClient(perAddress.wsUrl({ company: "ham", key: KIOSK_KEY }));
      const b = await readyClient(perAddress.wsUrl({ company: "ham", key: KIOSK_KEY }));
      const c = new TestClient(perAddress.wsUrl({ company: "ham", key: KIOSK_KEY }));
      expect((await c.closed).code).toBe(CLOSE_CODES.tryAgainLater);
      expect(c.of("error")[0]?.message).toMatch(/from this address/);
      a.close();
      await a.closed;
      await sleep(50);
      const d = await readyClient(perAddress.wsUrl({ company: "ham", key: KIOSK_KEY }));
      b.close();
      d.close();
    } finally {
      await perAddress.stop();
    }
  }, 60_000);

  test("wrong keys back off per address, over the WebSocket and HTTP alike (429 + Retry-After)", async () => {
    const stack = await startKioskStack({ server: { authFailLimit: 3 } });
    try {
      // a kiosk that worked from this address before the guessing starts
      (await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }))).close();
      for (let i = 0; i < 3; i++) {
        const wrong = new TestClient(stack.wsUrl({ company: "ham", key: `wrong-key-${i}-0000` }));
        expect((await wrong.closed).code).toBe(CLOSE_CODES.unauthorized);
      }
      // The 4th wrong key is still answered 4401, and starts the back-off (1 s, doubling).
      const fourth = new TestClient(stack.wsUrl({ company: "ham", key: "wrong-key-4-0000" }));
      expect((await fourth.closed).code).toBe(CLOSE_CODES.unauthorized);
      // Now key checks from this address are refused before upgrading, a right key never seen from here included.
      const upgrade = await fetch(stack.wsUrl({ company: "ham", key: KIOSK_KEY }).replace(/^ws/, "http"), {
        headers: { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" },
      });
      expect(upgrade.status).toBe(429);
      expect(Number(upgrade.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await upgrade.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
      const http = await fetch(`${stack.url}/v1/companies/ham/users/x/faces`, { headers: { "X-API-Key": ADMIN_KEY } });
      expect(http.status).toBe(429);
      expect(http.headers.get("retry-after")).toBe("1");
      // the key that worked from here before still does (one misconfigured device does not lock out the fleet)
      (await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }))).close();
      expect((await fetch(`${stack.url}/v1/companies/ham/users/x/faces`, { headers: { "X-API-Key": HAM_KEY } })).status).toBe(200);
      await sleep(1100);
      const again = await readyClient(stack.wsUrl({ company: "ham", key: KIOSK_KEY }));
      again.close();
    } finally {
      await stack.stop();
    }
  }, 60_000);

  test("a kiosk key may not set a threshold below THRESHOLD_FLOOR; an admin key may", async () => {
    const stack = await startKioskStack({ server: { thresholdFloor: 0.5 } });
    try {
      const kiosk = await readyClient(stack.wsUrl({ company: "ham", key: KIOSK_KEY }));
      kiosk.sendJson({ type: "settings", threshold: 0.45 });
      const refused = await kiosk.next("error");
      expect(refused.code).toBe("FORBIDDEN");
      expect(refused.message).toMatch(/below the floor 0.5/);
      kiosk.sendJson({ type: "settings", threshold: 0.6 });
      expect((await kiosk.next("ready")).settings.threshold).toBe(0.6);
      kiosk.close();
      const admin = await readyClient(stack.wsUrl({ company: "ham", key: ADMIN_KEY }));
      admin.sendJson({ type: "settings", threshold: 0.45 });
      expect((await admin.next("ready")).settings.threshold).toBe(0.45);
      admin.close();
    } finally {
      await stack.stop();
    }
  }, 60_000);
});
