import { expect, setDefaultTimeout, spyOn, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { createEngine, loadEngineConfig } from "../../../lib/engine/mod.ts";
import type { WorkerPoolEngine } from "../../../lib/engine/worker-pool.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { codeOf } from "../../helpers/errors.ts";

setDefaultTimeout(60_000);

test("FACE_ENGINE_WORKERS: the engine in worker threads gives the same faces and keeps the event loop free", async () => {
  const local = await createEngine({ engine: "onnx", workers: 0 });
  const pool = await createEngine({ engine: "onnx", workers: 2 });
  try {
    expect(pool.info().modelId).toBe(local.info().modelId);
    expect(pool.info().backend).toContain("x2 workers");
    const bytes = faceApiSample(1);
    const want = await local.analyze(bytes);

    // count timer ticks while 6 analyses run in the pool: with inference on this thread there would be ~none
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const results = await Promise.all(Array.from({ length: 6 }, () => pool.analyze(bytes)));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);

    for (const got of results) {
      expect(got.map((f) => f.bbox)).toEqual(want.map((f) => f.bbox));
      expect(got[0].embedding).toBeInstanceOf(Float32Array);
      expect(Array.from(got[0].embedding)).toEqual(Array.from(want[0].embedding));
    }
    const e = await pool.embed(bytes, want[1]);
    // embed() starts from the rounded landmarks of the returned face: nearly, not bit-for-bit, the same
    expect(e.reduce((s, v, i) => s + v * want[1].embedding[i], 0)).toBeGreaterThan(0.999);
    expect(bytes.byteLength).toBeGreaterThan(0); // the caller's buffer is not detached
    expect((await pool.detect(bytes)).length).toBe(3);

    let code = "";
    try {
      await pool.detect(new Uint8Array([1, 2, 3]));
    } catch (err) {
      code = FaceError.is(err) ? err.code : "other";
    }
    expect(code).toBe("INVALID_IMAGE");
  } finally {
    await pool.dispose();
    await local.dispose();
  }
});

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await Bun.sleep(20);
  }
}

/** The pool reports a replaced worker with console.warn: captured and returned, not printed. */
function captureWarnings(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const spy = spyOn(console, "warn").mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  });
  return { lines, restore: () => spy.mockRestore() };
}

test("a worker that dies fails its calls at once with INTERNAL and is replaced", async () => {
  const pool = (await createEngine({ engine: "onnx", workers: 1 })) as WorkerPoolEngine;
  const warned = captureWarnings();
  try {
    const bytes = faceApiSample(1);
    const inFlight = [pool.analyze(bytes), pool.analyze(bytes), pool.analyze(bytes)];
    const t0 = performance.now();
    pool.killWorker(0);
    const codes = await Promise.all(inFlight.map(codeOf));
    expect(performance.now() - t0).toBeLessThan(1000);
    // the first may have finished before the kill; every other one failed fast with INTERNAL
    expect(codes.filter((c) => c === "INTERNAL").length).toBeGreaterThanOrEqual(2);
    expect(codes.every((c) => c === "INTERNAL" || c === "no error")).toBe(true);
    expect(pool.stats().restarts).toBe(1);
    // a call made while the replacement loads waits for it instead of failing
    const faces = await pool.analyze(bytes);
    expect(faces.length).toBe(3);
    expect(pool.stats()).toMatchObject({ size: 1, ready: 1, restarts: 1 });
    expect(pool.stats().failedCalls).toBeGreaterThanOrEqual(2);
    expect(warned.lines).toContain("facegate engine: engine worker exited; replacing the worker");
  } finally {
    warned.restore();
    await pool.dispose();
  }
});

test("a call past FACE_ENGINE_TIMEOUT_MS fails with TIMEOUT and its worker is recycled", async () => {
  const pool = (await createEngine({ engine: "onnx", workers: 1, callTimeoutMs: 1 })) as WorkerPoolEngine;
  const warned = captureWarnings();
  try {
    expect(await codeOf(pool.analyze(faceApiSample(1)))).toBe("TIMEOUT");
    expect(pool.stats().restarts).toBe(1);
    await until(() => pool.stats().ready === 1);
    expect(warned.lines).toContain("facegate engine: engine worker did not answer a analyze call within 1 ms; replacing the worker");
  } finally {
    warned.restore();
    await pool.dispose();
  }
});

test("FACE_ENGINE_TIMEOUT_MS is read and checked", () => {
  expect(loadEngineConfig({ FACE_ENGINE_TIMEOUT_MS: "2500" }).callTimeoutMs).toBe(2500);
  expect(loadEngineConfig({}).callTimeoutMs).toBe(30_000);
  expect(() => loadEngineConfig({ FACE_ENGINE_TIMEOUT_MS: "0" })).toThrow("FACE_ENGINE_TIMEOUT_MS");
});
