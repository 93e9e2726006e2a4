import { expect, setDefaultTimeout, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { createEngine } from "../../../lib/engine/mod.ts";
import { faceApiSample } from "../../helpers/datasets.ts";

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
