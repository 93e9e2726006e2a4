/**
 * The desk's parts without a server: the kiosk share of the one admission limiter, the decorators
 * (metrics by way in, deadlines, kiosk admission) over a FaceApi whose calls the test controls.
 */
import { describe, expect, test } from "bun:test";
import { FaceError, type FaceApi } from "../../../lib/core/mod.ts";
import { Desk, isShed } from "../../../server/desk/desk.ts";
import { AdmissionLimiter } from "../../../server/desk/limits.ts";
import { ServerMetrics } from "../../../server/observe/metrics.ts";

describe("AdmissionLimiter: the kiosk share", () => {
  test("kiosk frames start only below the kiosk slots; beyond, they are shed at once and counted", async () => {
    const a = new AdmissionLimiter(4, 8, undefined, 0.5);
    expect(a.kioskSlots).toBe(2);
    const first = a.tryAcquireKiosk();
    const second = a.tryAcquireKiosk();
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    const k1 = first!;
    const k2 = second!;
    expect(a.tryAcquireKiosk()).toBeNull(); // 2 in flight: shed
    // HTTP still has the other slots
    const h1 = await a.acquire();
    const h2 = await a.acquire();
    expect(a.snapshot()).toMatchObject({ inFlight: 4, kioskInFlight: 2, queued: 0, rejected: { kioskShed: 1 } });
    k1();
    k1(); // twice: no-op
    // an HTTP slot is in flight with one kiosk frame: 3 calls >= 2 kiosk slots, so still shed
    expect(a.tryAcquireKiosk()).toBeNull();
    k2();
    h1();
    h2();
    expect(a.snapshot()).toMatchObject({ inFlight: 0, kioskInFlight: 0, rejected: { kioskShed: 2 } });
    expect(a.tryAcquireKiosk()).not.toBeNull();
  });

  test("a waiting HTTP request sheds every kiosk frame: kiosks never take a slot from the queue", async () => {
    const a = new AdmissionLimiter(2, 4, undefined, 1);
    expect(a.kioskSlots).toBe(2);
    const h1 = await a.acquire();
    const h2 = await a.acquire();
    const waiting = a.acquire();
    expect(a.snapshot().queued).toBe(1);
    h1();
    const h3 = await waiting; // the slot went to the waiting request
    expect(a.tryAcquireKiosk()).toBeNull();
    h2();
    h3();
    expect(a.tryAcquireKiosk()).not.toBeNull();
  });

  test("at least one kiosk slot; none needed when admission is off", () => {
    expect(new AdmissionLimiter(1, 0, undefined, 0).kioskSlots).toBe(1);
    const off = new AdmissionLimiter(0, 0);
    for (let i = 0; i < 5; i++) expect(off.tryAcquireKiosk()).not.toBeNull();
  });
});

/** A FaceApi whose recognizeFaces calls wait until the test releases them. */
function gatedApi() {
  const gates: Array<() => void> = [];
  const api = {
    recognizeFaces: () => new Promise((resolve) => gates.push(() => resolve({ faces: [], threshold: 0.4 }))),
    getOperatingPoint: async () => ({ users: 1 }),
  } as unknown as FaceApi;
  return { api, gates };
}

describe("Desk", () => {
  test("kiosk calls: the engine calls on the kiosk share (shed is UNAVAILABLE with details.shed), others pass", async () => {
    const { api, gates } = gatedApi();
    const metrics = new ServerMetrics();
    const desk = new Desk({ api, metrics, limits: { maxInflight: 2, maxQueue: 4, kioskShare: 0.5, requestTimeoutMs: 30_000 } });
    const first = desk.kiosk.recognizeFaces({ companyId: "c", image: new Uint8Array(1) });
    const shed = await desk.kiosk.recognizeFaces({ companyId: "c", image: new Uint8Array(1) }).catch((e: unknown) => e);
    expect(isShed(shed)).toBe(true);
    expect(FaceError.is(shed, "UNAVAILABLE")).toBe(true);
    expect(await desk.kiosk.getOperatingPoint({ companyId: "c" })).toEqual({ users: 1 } as never); // not engine work: not admitted
    gates.shift()!();
    await first;
    expect(desk.admission.snapshot()).toMatchObject({ inFlight: 0, rejected: { kioskShed: 1 } });
    const text = metrics.render();
    expect(text).toMatch(/facegate_operation_duration_seconds_count\{operation="recognize_faces",outcome="ok",way="kiosk"\} 1/);
    expect(text).toMatch(/facegate_operation_duration_seconds_count\{operation="recognize_faces",outcome="UNAVAILABLE",way="kiosk"\} 1/);
    await desk.http.getOperatingPoint({ companyId: "c" });
    expect(metrics.render()).toMatch(/facegate_operation_duration_seconds_count\{operation="get_operating_point",outcome="ok",way="http"\} 1/);
  });

  test("kiosk calls have a deadline (REQUEST_TIMEOUT_MS, or the call's shorter timeoutMs); the slot is kept until the work ends", async () => {
    const { api, gates } = gatedApi();
    const desk = new Desk({ api, metrics: new ServerMetrics(), limits: { maxInflight: 2, maxQueue: 4, kioskShare: 0.5, requestTimeoutMs: 30_000 } });
    const late = await desk.kiosk.recognizeFaces({ companyId: "c", image: new Uint8Array(1) }, { timeoutMs: 20 }).catch((e: unknown) => e);
    expect(FaceError.is(late, "TIMEOUT")).toBe(true);
    // the inference still runs: its slot is held until it ends
    expect(desk.admission.snapshot().kioskInFlight).toBe(1);
    gates.shift()!();
    for (let i = 0; i < 100 && desk.admission.snapshot().kioskInFlight > 0; i++) await Promise.resolve();
    expect(desk.admission.snapshot().kioskInFlight).toBe(0);
  });
});
