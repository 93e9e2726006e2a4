/**
 * KioskSession without sockets: the transport is two callbacks, the FaceApi is the real
 * LocalFaceService. Backpressure here is deterministic (every frame arrives while the first runs).
 */
import { beforeAll, expect, test } from "bun:test";
import { LocalEventSink, type IdentifiedEvent, type UnknownEvent } from "../../../lib/core/mod.ts";
import { ApiKeys } from "../../../server/http/auth.ts";
import type { LocalFaceService } from "../../../lib/service/mod.ts";
import { KioskSession, loadKioskConfig, StrangerBudget, type KioskSignal, type ServerMessage } from "../../../server/kiosk/mod.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import { PERFORMER, hamiltonFrame, sharedService } from "./harness.ts";

function makeSession(api: LocalFaceService, overrides: Partial<ConstructorParameters<typeof KioskSession>[0]> = {}) {
  const sent: ServerMessage[] = [];
  const closes: { code: number; reason: string }[] = [];
  const session = new KioskSession({
    api,
    companyId: "ham",
    config: loadKioskConfig({}, { idleTimeoutMs: 60_000 }),
    transport: { send: (m) => sent.push(m), close: (code, reason) => closes.push({ code, reason }) },
    ...overrides,
  });
  return { session, sent, closes };
}

const until = async (cond: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
};

describeDatasets("KioskSession", () => {
  let api: LocalFaceService;
  beforeAll(async () => {
    api = await sharedService();
  }, 120_000);

  test("frames arriving while one is processed: only the newest waits, the rest are dropped", async () => {
    const { session, sent } = makeSession(api);
    await session.start();
    expect(sent[0]?.type).toBe("ready");
    const frame = hamiltonFrame(30);
    for (let i = 0; i < 10; i++) session.handleBinary(frame);
    expect(session.stats.heldBytes).toBe(2 * frame.byteLength);
    await until(() => sent.filter((m) => m.type === "result").length === 2);
    await Bun.sleep(50);
    const results = sent.filter((m) => m.type === "result");
    expect(results.map((r) => r.seq)).toEqual([1, 10]);
    expect(results.map((r) => r.dropped)).toEqual([8, 8]);
    expect(session.stats).toMatchObject({ received: 10, processed: 2, dropped: 8, heldBytes: 0, maxHeldBytes: 2 * frame.byteLength });
    session.close();
  }, 60_000);

  test("identification goes to the session, the callback and the event sink", async () => {
    const sink = new LocalEventSink();
    const fromSink: IdentifiedEvent[] = [];
    sink.subscribe((e) => e.type === "identified" && fromSink.push(e));
    const fromCallback: IdentifiedEvent[] = [];
    const { session, sent } = makeSession(api, { events: sink, onIdentified: (e) => fromCallback.push(e), kioskId: "k1" });
    await session.start();
    // K=3 votes from frame 22 on; passive liveness (default) a few frames later: the performer sings.
    for (let n = 20; n <= 30; n++) {
      const before = sent.length;
      session.handleBinary(hamiltonFrame(n));
      await until(() => sent.slice(before).some((m) => m.type === "result"));
    }
    const identified = sent.filter((m) => m.type === "identified");
    expect(identified).toHaveLength(1);
    expect(identified[0].userId).toBe(PERFORMER);
    expect(fromCallback).toHaveLength(1);
    expect(fromSink).toEqual(fromCallback);
    expect(fromSink[0]).toMatchObject({ companyId: "ham", userId: PERFORMER, kioskId: "k1", sessionId: session.id });
    session.close();
  }, 60_000);

  test("stranger events: only where the company records them, one per track, within the kiosk's budget", async () => {
    const run = async (overrides: Partial<ConstructorParameters<typeof KioskSession>[0]>) => {
      const sink = new LocalEventSink();
      const strangers: UnknownEvent[] = [];
      sink.subscribe((e) => e.type === "unknown" && strangers.push(e));
      const signals: KioskSignal[] = [];
      const { session, sent } = makeSession(api, { events: sink, kioskId: "lobby", onSignal: (s) => signals.push(s), ...overrides });
      await session.start();
      // the audience: faces nobody enrolled at "ham"
      for (let n = 40; n <= 50; n++) {
        const before = sent.length;
        session.handleBinary(hamiltonFrame(n));
        await until(() => sent.slice(before).some((m) => m.type === "result"));
      }
      const tracks = new Set(sent.flatMap((m) => (m.type === "result" ? m.faces.filter((f) => f.state === "unknown").map((f) => f.track) : [])));
      session.close();
      await Bun.sleep(20);
      return { strangers, tracks, stats: session.stats, signals };
    };
    const on = loadKioskConfig({ STRANGER_EVENTS_COMPANIES: "ham" }, { idleTimeoutMs: 60_000 });
    const a = await run({ config: on });
    expect(a.tracks.size).toBeGreaterThanOrEqual(1);
    expect(a.strangers).toHaveLength(a.tracks.size);
    expect(a.strangers[0]).toMatchObject({ type: "unknown", companyId: "ham", kioskId: "lobby" });
    expect(a.strangers[0].frames).toBeGreaterThanOrEqual(5);
    expect(a.signals.filter((s) => s.type === "unknown")).toHaveLength(a.tracks.size);
    expect(a.signals[0]).toMatchObject({ type: "session", companyId: "ham", kioskId: "lobby" });
    // off (the default): nothing recorded, nothing signalled
    const off = await run({});
    expect(off.strangers).toHaveLength(0);
    expect(off.stats.strangers).toBe(0);
    // a kiosk's budget is shared by its sessions: the second session finds it spent
    const budget = new StrangerBudget(a.tracks.size);
    const first = await run({ config: on, strangerBudget: budget });
    const second = await run({ config: on, strangerBudget: budget });
    expect(first.strangers).toHaveLength(a.tracks.size);
    expect(second.strangers).toHaveLength(0);
    expect(second.stats.strangersLimited).toBe(second.tracks.size);
  }, 60_000);

  test("a session is authenticated from the start; `auth` messages are answered, frames processed", async () => {
    const { session, sent, closes } = makeSession(api);
    await session.start();
    expect(session.state).toBe("ready");
    expect(sent[0]?.type).toBe("ready");
    await session.handleText(JSON.stringify({ type: "auth", key: "anything-at-all" }));
    expect(sent.at(-1)).toMatchObject({ type: "error", code: "INVALID_ARGUMENT" });
    expect(closes).toHaveLength(0);
    session.close();
  });

  test("settings: the threshold floor applies to the session's principal", async () => {
    const keys = new ApiKeys({ "kiosk-key-0001": { companies: ["ham"], scopes: ["recognize"] }, "admin-key-0001": ["*"] });
    const kiosk = makeSession(api, { principal: keys.authenticate("kiosk-key-0001"), thresholdFloor: 0.5 });
    await kiosk.session.start();
    await kiosk.session.handleText(JSON.stringify({ type: "settings", threshold: 0.4 }));
    expect(kiosk.sent.at(-1)).toMatchObject({ type: "error", code: "FORBIDDEN" });
    expect(kiosk.session.currentSettings.threshold).toBeNull();
    kiosk.session.close();
    const admin = makeSession(api, { principal: keys.authenticate("admin-key-0001"), thresholdFloor: 0.5 });
    await admin.session.start();
    await admin.session.handleText(JSON.stringify({ type: "settings", threshold: 0.4 }));
    expect(admin.session.currentSettings.threshold).toBe(0.4);
    admin.session.close();
  });
});
