import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ort } from "../../../../lib/engine/onnx/ort.ts";
import { rewritePrelu } from "../../../../lib/engine/onnx/prelu-rewrite.ts";
import { fields, fieldString, MessageWriter } from "../../../../lib/engine/onnx/protobuf.ts";
import { modelPath } from "../../../../models/manifest.ts";

const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ["cpu"] };

/** ValueInfoProto for a float tensor of a fixed shape. */
function valueInfo(name: string, dims: number[]): Uint8Array {
  const shape = new MessageWriter();
  for (const d of dims) shape.bytesField(1, new MessageWriter().varintField(1, d).bytes());
  const tensorType = new MessageWriter().varintField(1, 1).bytesField(2, shape.bytes()).bytes();
  const type = new MessageWriter().bytesField(1, tensorType).bytes();
  return new MessageWriter().stringField(1, name).bytesField(2, type).bytes();
}

/** A one-node model: Y = PRelu(X, slope), X [1, C, 2, 2], slope [C, 1, 1] as a raw-data initializer. */
function preluModel(slopes: number[]): Uint8Array {
  const c = slopes.length;
  const node = new MessageWriter().stringField(1, "X").stringField(1, "slope").stringField(2, "Y").stringField(3, "act").stringField(4, "PRelu").bytes();
  const raw = new Uint8Array(new Float32Array(slopes).buffer);
  const init = new MessageWriter().varintField(1, c).varintField(1, 1).varintField(1, 1).varintField(2, 1).stringField(8, "slope").bytesField(9, raw).bytes();
  const graph = new MessageWriter()
    .bytesField(1, node)
    .stringField(2, "g")
    .bytesField(5, init)
    .bytesField(11, valueInfo("X", [1, c, 2, 2]))
    .bytesField(12, valueInfo("Y", [1, c, 2, 2]))
    .bytes();
  const opset = new MessageWriter().stringField(1, "").varintField(2, 13).bytes();
  return new MessageWriter().varintField(1, 7).bytesField(7, graph).bytesField(8, opset).bytes();
}

async function run(model: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, opts);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", input, dims) });
  const data = out[session.outputNames[0]].data as Float32Array;
  await session.release();
  return data;
}

/** A string field of every node (1) or initializer (5) of the graph: op types are node field 4, tensor names field 8. */
function graphStrings(model: Uint8Array, kind: 1 | 5, field: number): string[] {
  const graph = [...fields(model)].find((f) => f.no === 7)!;
  const out: string[] = [];
  for (const n of fields(model, graph.dataStart, graph.dataEnd)) {
    if (n.no !== kind) continue;
    for (const g of fields(model, n.dataStart, n.dataEnd)) if (g.no === field) out.push(fieldString(model, g));
  }
  return out;
}
const opTypes = (model: Uint8Array) => graphStrings(model, 1, 4);

/** PRelu as the ONNX spec defines it, per channel of an [1, C, 2, 2] tensor. */
const prelu = (x: Float32Array, slopes: number[]) => x.map((v, i) => (v < 0 ? Math.fround(v * Math.fround(slopes[Math.floor(i / 4)])) : v));

describe("PRelu rewrite", () => {
  // Negative, zero, positive and tiny values in every channel.
  const x = Float32Array.from([-2.5, -1e-3, 0, 3.75, 1.5, -0.75, 2e-6, -8, 0.1, 7, -3.3, 0]);

  test("slopes <= 1 (negative ones included): Mul + Max, exactly PRelu's outputs", async () => {
    const slopes = [0.25, -0.5, 1];
    const model = preluModel(slopes);
    const r = rewritePrelu(model);
    expect(r).toMatchObject({ rewritten: 1, kept: 0 });
    expect(opTypes(r.bytes)).toEqual(["Mul", "Max"]);
    const expected = prelu(x, slopes);
    expect(await run(model, x, [1, 3, 2, 2])).toEqual(expected);
    expect(await run(r.bytes, x, [1, 3, 2, 2])).toEqual(expected);
  });

  test("a slope above 1 keeps the result exact (the sign trick), where max(y, a*y) would be wrong", async () => {
    const slopes = [0.25, 1.5, 0.1];
    const r = rewritePrelu(preluModel(slopes));
    expect(r).toMatchObject({ rewritten: 1, kept: 0 });
    expect(opTypes(r.bytes)).toEqual(["Mul", "Mul", "Max", "Mul"]);
    // The original slope is read by no node any more: dropped (onnxruntime would warn about it).
    expect(graphStrings(r.bytes, 5, 8)).toEqual(["facegate_prelu/act/s", "facegate_prelu/act/sa"]);
    const out = await run(r.bytes, x, [1, 3, 2, 2]);
    expect(out).toEqual(prelu(x, slopes));
    // Channel 1 holds 1.5 and 2e-6: a plain max would have given 2.25 and 3e-6.
    expect(out[4]).toBe(1.5);
  });

  test("fr_feature: every PRelu replaced, embeddings bit-identical to the model as shipped", async () => {
    const original = new Uint8Array(readFileSync(modelPath("fr_feature")));
    const r = rewritePrelu(original);
    expect(r.rewritten).toBe(33);
    expect(r.kept).toBe(0);
    expect(opTypes(r.bytes)).not.toContain("PRelu");
    let seed = 7;
    const face = Float32Array.from({ length: 3 * 112 * 112 }, (_, i) => {
      seed = (seed * 16807) % 2147483647;
      // A smooth image-like ramp plus noise, in the recognizer's input range.
      return Math.sin(i / 500) * 0.6 + (seed / 2147483647 - 0.5) * 0.4;
    });
    const a = await run(original, face, [1, 3, 112, 112]);
    const b = await run(r.bytes, face, [1, 3, 112, 112]);
    expect(b.length).toBe(512);
    expect(b).toEqual(a);
  });

  test("models without PRelu and bytes that are not a model come back as they were", () => {
    const detector = new Uint8Array(readFileSync(modelPath("fr_detect")));
    expect(rewritePrelu(detector).bytes).toBe(detector);
    const truncated = new Uint8Array(readFileSync(modelPath("fr_feature"))).subarray(0, 100_000);
    expect(rewritePrelu(truncated)).toEqual({ bytes: truncated, rewritten: 0, kept: 0 });
    const junk = new TextEncoder().encode("not an onnx model at all");
    expect(rewritePrelu(junk).bytes).toBe(junk);
  });

  test("a PRelu whose slope is not an initializer is kept", () => {
    const model = preluModel([0.5]);
    // Rename the initializer so the node's slope input no longer names it.
    const renamed = new Uint8Array(model);
    const at = Buffer.from(renamed).lastIndexOf("slope");
    renamed.set(new TextEncoder().encode("other"), at);
    expect(rewritePrelu(renamed)).toMatchObject({ rewritten: 0, kept: 1 });
  });
});
