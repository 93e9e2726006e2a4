/**
 * Worker of bench/ort-options.ts: opens one session per variant for one model, then on each
 * message runs one variant `runs` times and answers the times (ms).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ort, rewritePrelu } from "../lib/engine/internal.ts";

declare const self: Worker;

type Variant = ort.InferenceSession.SessionOptions & { saveOptimized?: boolean; preluRewrite?: boolean };
type Init = { op: "init"; model: string; variants: Record<string, Variant> };
type Run = { op: "run"; variant: string; runs: number };

/** `InferenceSession.create` takes a path or bytes through two overloads. */
const open = (src: string | Uint8Array, opts: ort.InferenceSession.SessionOptions) =>
  typeof src === "string" ? ort.InferenceSession.create(src, opts) : ort.InferenceSession.create(src, opts);

const sessions = new Map<string, ort.InferenceSession>();
let feeds: Record<string, ort.Tensor> = {};
const loadMs: Record<string, number> = {};

self.onmessage = async (event: MessageEvent<Init | Run>) => {
  const m = event.data;
  if (m.op === "init") {
    const dir = mkdtempSync(join(tmpdir(), "facegate-ort-"));
    const rewritten = rewritePrelu(new Uint8Array(readFileSync(m.model))).bytes;
    for (const [name, v] of Object.entries(m.variants)) {
      const { saveOptimized, preluRewrite, ...opts } = v;
      let path: string | Uint8Array = preluRewrite ? rewritten : m.model;
      if (saveOptimized) {
        // The saved optimised model is written by a first session, then loaded with optimisation off.
        const optimized = join(dir, `${name}.onnx`);
        await (await open(path, { ...opts, graphOptimizationLevel: "all", optimizedModelFilePath: optimized })).release();
        path = optimized;
      }
      const t = performance.now();
      const s = await open(path, saveOptimized ? { ...opts, graphOptimizationLevel: "disabled" } : opts);
      loadMs[name] = performance.now() - t;
      sessions.set(name, s);
    }
    const s = sessions.values().next().value!;
    const meta = s.inputMetadata[0] as unknown as { shape: readonly (number | string)[] };
    const shape = meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    let seed = 1;
    const data = Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
    feeds = { [s.inputNames[0]]: new ort.Tensor("float32", data, shape) };
    for (const s2 of sessions.values()) for (let i = 0; i < 3; i++) await s2.run(feeds);
    self.postMessage({ loadMs });
    return;
  }
  const s = sessions.get(m.variant)!;
  const ms: number[] = [];
  for (let i = 0; i < m.runs; i++) {
    const t = performance.now();
    await s.run(feeds);
    ms.push(performance.now() - t);
  }
  self.postMessage({ ms });
};
