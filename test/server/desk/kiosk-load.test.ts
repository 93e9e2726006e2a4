/**
 * Kiosks under load share the one admission limiter with HTTP (server/desk): a crowd of kiosk
 * sessions streaming frames while HTTP recognize runs. The mechanism, not the numbers (those are
 * bench/kiosk-load.ts): every HTTP request is answered; kiosk frames beyond the kiosk share are
 * shed at once, answered and counted, never queued; /metrics shows kiosk calls in the same
 * families as HTTP calls, labelled by the way in.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dataset, describeDatasets } from "../../helpers/datasets.ts";
import { b64 } from "../harness.ts";
import { ADMIN_KEY, HAM_KEY, hamiltonFrame, PERFORMER, readyClient, sharedService, startKioskStack, type KioskStack, type TestClient } from "../kiosk/harness.ts";

const KIOSKS = 8;
const HTTP_LOOPS = 2;
const HTTP_PER_LOOP = 6;

/** Resolves on the next message to any of `clients` (or after 5 s, to look at the condition again). */
function nextMessage(clients: TestClient[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const c of clients) c.ws.removeEventListener("message", done);
      resolve();
    };
    const timer = setTimeout(done, 5_000);
    for (const c of clients) c.ws.addEventListener("message", done);
  });
}

async function scrape(stack: KioskStack): Promise<Map<string, number>> {
  const res = await fetch(`${stack.url}/metrics`, { headers: { "X-API-Key": ADMIN_KEY } });
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^(facegate_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

describeDatasets("kiosks and HTTP through one desk", () => {
  let stack: KioskStack;

  beforeAll(async () => {
    await sharedService();
    // Two engine slots: a kiosk frame starts only while nothing else runs (KIOSK_SHARE 0.5 of 2).
    stack = await startKioskStack({ kiosk: { maxSessions: KIOSKS + 2 }, server: { maxInflight: 2, maxQueue: 8, kioskShare: 0.5 } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  test("a burst of kiosk frames is shed and counted, never queued; HTTP requests are all answered", async () => {
    const frame = hamiltonFrame(25); // the performer
    const clients: TestClient[] = [];
    for (let i = 0; i < KIOSKS; i++) clients.push(await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY, kiosk: `door-${i}` })));

    // Each kiosk streams as the page does: the next frame as soon as the last one is answered.
    let streaming = true;
    const answered = (c: TestClient) => c.of("result").length + c.of("error").length;
    const pumps = clients.map(async (c) => {
      while (streaming) {
        const before = answered(c);
        c.sendFrame(frame);
        while (answered(c) === before) await nextMessage([c]);
      }
    });

    // Sampled while the load runs: the limiter's queue holds HTTP requests only.
    const samples: { queued: number; kioskInFlight: number }[] = [];
    const sampler = (async () => {
      while (streaming) {
        const m = await scrape(stack);
        samples.push({ queued: m.get("facegate_admission_queued") ?? -1, kioskInFlight: m.get("facegate_admission_kiosk_in_flight") ?? -1 });
        await Bun.sleep(25);
      }
    })();

    const image = b64(readFileSync(dataset("labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png")));
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: HTTP_LOOPS }, async () => {
        for (let i = 0; i < HTTP_PER_LOOP; i++) {
          const res = await fetch(`${stack.url}/v1/companies/ham/recognize`, {
            method: "POST",
            headers: { "X-API-Key": HAM_KEY, "Content-Type": "application/json" },
            body: JSON.stringify({ image }),
          });
          const body = (await res.json()) as { user_id?: string };
          statuses.push(res.status);
          if (res.ok) expect(body.user_id).toBe(PERFORMER);
        }
      }),
    );
    // Until the kiosks have both been served and been shed (the condition, not a time).
    const kioskTotal = () => clients.reduce((n, c) => n + c.of("result").length, 0);
    const shedTotal = () => clients.reduce((n, c) => n + c.of("error").filter((e) => e.code === "UNAVAILABLE" && /shed/.test(e.message)).length, 0);
    // (bounded: without the shared limiter nothing is ever shed, and the assertions below say so)
    while ((kioskTotal() === 0 || shedTotal() === 0) && kioskTotal() < 400) await nextMessage(clients);
    streaming = false;
    await Promise.all([...pumps, sampler]);

    expect(statuses).toEqual(Array(HTTP_LOOPS * HTTP_PER_LOOP).fill(200));

    const m = await scrape(stack);
    const shedMetric = m.get('facegate_admission_rejected_total{reason="kiosk_shed"}') ?? 0;
    // Every shed frame was answered (the page sends its next one) and counted, in both families.
    expect(shedTotal()).toBeGreaterThan(0);
    expect(m.get("facegate_kiosk_frames_shed_total")).toBe(shedTotal());
    expect(shedMetric).toBe(shedTotal());
    expect(m.get("facegate_kiosk_frame_errors_total")).toBe(0);
    // Never queued: at most the HTTP requests waited; a kiosk frame held at most the kiosk slot.
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples.map((s) => s.queued))).toBeLessThanOrEqual(HTTP_LOOPS);
    expect(Math.max(...samples.map((s) => s.kioskInFlight))).toBeLessThanOrEqual(1);
    expect(m.get("facegate_admission_queued")).toBe(0);
    // One family for both ways in, told apart by `way`.
    expect(m.get('facegate_operation_duration_seconds_count{operation="recognize_face",outcome="ok",way="http"}')).toBe(HTTP_LOOPS * HTTP_PER_LOOP);
    expect(m.get('facegate_operation_duration_seconds_count{operation="recognize_faces",outcome="ok",way="kiosk"}')).toBe(kioskTotal());
    expect(m.get('facegate_operation_duration_seconds_count{operation="recognize_faces",outcome="UNAVAILABLE",way="kiosk"}')).toBe(shedTotal());
    for (const c of clients) c.close();
  }, 180_000);
});
