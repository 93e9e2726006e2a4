/**
 * The kiosk's gauges and counters in the server's /metrics (contributed through the plugin
 * context's metrics registry), through the real server, real sockets and real frames.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { describeDatasets } from "../../helpers/datasets.ts";
import { ADMIN_KEY, HAM_KEY, PERFORMER, TestClient, hamiltonFrame, readyClient, sharedService, startKioskStack, type KioskStack } from "./harness.ts";

/** Every `facegate_kiosk_*` sample of a scrape, by series. */
async function kioskMetrics(stack: KioskStack): Promise<Record<string, number>> {
  const res = await fetch(`${stack.url}/metrics`, { headers: { "X-API-Key": ADMIN_KEY } });
  expect(res.status).toBe(200);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split("\n")) {
    const m = /^(facegate_kiosk_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

describeDatasets("kiosk metrics", () => {
  let stack: KioskStack;

  beforeAll(async () => {
    await sharedService();
    stack = await startKioskStack({ kiosk: { cooldownMs: 60_000, maxSessions: 4 } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  test("sessions, frames, identifications and errors appear in /metrics and follow a session", async () => {
    const start = await kioskMetrics(stack);
    expect(start).toMatchObject({
      facegate_kiosk_sessions: 0,
      facegate_kiosk_sessions_max: 4,
      facegate_kiosk_sessions_started_total: 0,
      facegate_kiosk_frames_received_total: 0,
      facegate_kiosk_frames_processed_total: 0,
      facegate_kiosk_frames_dropped_total: 0,
      facegate_kiosk_frames_rejected_total: 0,
      facegate_kiosk_frame_errors_total: 0,
      facegate_kiosk_identified_total: 0,
      facegate_kiosk_sessions_refused_total: 0,
    });

    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    expect((await kioskMetrics(stack)).facegate_kiosk_sessions).toBe(1);

    // The performer, one frame at a time: processed, then identified once (after the liveness check).
    for (let n = 20; n <= 30; n++) {
      c.sendFrame(hamiltonFrame(n));
      await c.next("result");
    }
    expect(c.of("identified").map((e) => e.userId)).toEqual([PERFORMER]);

    // Not an image (rejected before recognition) and a JPEG only the decoder refuses (a frame error).
    c.sendFrame(new Uint8Array(1000).fill(7));
    await c.next("error");
    const corrupt = new Uint8Array(5000).map((_, i) => (i * 31) & 0xff);
    corrupt.set([0xff, 0xd8, 0xff, 0xe0], 0);
    corrupt.set([0xff, 0xd9], corrupt.length - 2);
    c.sendFrame(corrupt);
    expect((await c.next("error")).code).toBe("INVALID_IMAGE");

    // A burst while busy: the waiting frame is replaced, the replaced ones are dropped.
    const burst = [31, 32, 33, 34, 35, 36];
    for (const n of burst) c.sendFrame(hamiltonFrame(n));
    const lastSeq = 11 + 2 + burst.length;
    for (;;) if ((await c.next("result")).seq === lastSeq) break;

    const live = await kioskMetrics(stack);
    expect(live).toMatchObject({
      facegate_kiosk_sessions: 1,
      facegate_kiosk_sessions_started_total: 1,
      facegate_kiosk_frames_received_total: lastSeq,
      facegate_kiosk_frames_rejected_total: 1,
      facegate_kiosk_frame_errors_total: 1,
      facegate_kiosk_identified_total: 1,
      'facegate_kiosk_liveness_total{result="live"}': 1,
      'facegate_kiosk_liveness_total{result="flat"}': 0,
      'facegate_kiosk_challenges_total{result="issued"}': 0,
    });
    expect(live.facegate_kiosk_frames_dropped_total).toBeGreaterThan(0);
    expect(live.facegate_kiosk_frames_processed_total).toBe(c.of("result").length);
    expect(
      live.facegate_kiosk_frames_processed_total +
        live.facegate_kiosk_frames_dropped_total +
        live.facegate_kiosk_frames_rejected_total +
        live.facegate_kiosk_frame_errors_total,
    ).toBe(lastSeq);
    const t = stack.kiosk.totals();
    expect(live.facegate_kiosk_frames_processed_total).toBe(t.framesProcessed);
    expect(live.facegate_kiosk_frames_dropped_total).toBe(t.framesDropped);

    // The session ends: the gauge drops, the counters keep what it did.
    c.close();
    await c.closed;
    for (let i = 0; i < 100 && stack.kiosk.sessions.size > 0; i++) await Bun.sleep(10);
    const ended = await kioskMetrics(stack);
    expect(ended.facegate_kiosk_sessions).toBe(0);
    for (const [series, value] of Object.entries(live)) {
      if (series !== "facegate_kiosk_sessions") expect(ended[series]).toBe(value);
    }

    // A connection refused before a session counts as refused, not started.
    const noCompany = new TestClient(stack.wsUrl({ key: HAM_KEY }));
    await noCompany.closed;
    const refused = await kioskMetrics(stack);
    expect(refused.facegate_kiosk_sessions_refused_total).toBe(1);
    expect(refused.facegate_kiosk_sessions_started_total).toBe(1);

    // The kiosk's lines are typed for Prometheus.
    const text = await (await fetch(`${stack.url}/metrics`, { headers: { "X-API-Key": ADMIN_KEY } })).text();
    expect(text).toContain("# TYPE facegate_kiosk_sessions gauge");
    expect(text).toContain("# TYPE facegate_kiosk_frames_processed_total counter");
  }, 120_000);
});
