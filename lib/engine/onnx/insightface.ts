/**
 * InsightFace-format models named by path (e.g. buffalo_l's det_10g.onnx and w600k_r50.onnx), so
 * users of the old Python system keep embeddings compatible with their stored ones.
 *
 * - SCRFD detector: input [1,3,H,W] (640x640 when dynamic), RGB (x-127.5)/128, letterboxed to the
 *   top-left; 9 outputs in InsightFace's order: scores (strides 8,16,32), box distances (8,16,32),
 *   5 keypoints (8,16,32). Gives the 5 alignment points directly.
 * - ArcFace recognizer: input [1,3,112,112], RGB (x-127.5)/127.5 → [1,D].
 * Shapes are checked at load; a mismatch is a FaceError INVALID_ARGUMENT naming the file.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { sha256 } from "../../../models/manifest.ts";
import { FaceError } from "../../core/mod.ts";
import { nms, type Candidate } from "../boxes.ts";
import { Embedder } from "./embedder.ts";
import type { Points } from "./landmarks.ts";
import type { FaceLocator, LocatedPoints } from "./onnx-engine.ts";
import { declaredShape, ort } from "./ort.ts";
import { letterboxToPlanarRGB } from "../image/raster.ts";
import type { DecodedImage } from "../types.ts";

type Open = (path: string) => Promise<ort.InferenceSession>;

const STRIDES = [8, 16, 32] as const;

function readModel(path: string, role: string): { bytes: Uint8Array; id: string } {
  if (!existsSync(path)) throw new FaceError("INVALID_ARGUMENT", `${role} model not found: ${path}`);
  const bytes = new Uint8Array(readFileSync(path));
  return { bytes, id: `${basename(path).replace(/\.onnx$/i, "")}@${sha256(bytes).slice(0, 8)}` };
}

function describe(session: ort.InferenceSession): string {
  return session.outputNames.map((n) => `${n} ${JSON.stringify(declaredShape(session, n, "output") ?? "?")}`).join(", ");
}

export class ScrfdLocator implements FaceLocator {
  private readonly input: string;
  readonly width: number;
  readonly height: number;

  constructor(
    private readonly session: ort.InferenceSession,
    path: string,
  ) {
    const fail = (why: string) =>
      new FaceError("INVALID_ARGUMENT", `${path} is not an SCRFD-style detector: ${why}`, {
        details: { path, outputs: session.outputNames },
      });
    const inShape = declaredShape(session, session.inputNames[0], "input");
    if (session.inputNames.length !== 1 || !inShape || inShape.length !== 4 || inShape[1] !== 3) {
      throw fail(`expected one input [1,3,H,W], got ${JSON.stringify(inShape)}`);
    }
    if (session.outputNames.length !== 9) {
      throw fail(
        `expected 9 outputs (scores, box distances and 5 keypoints for strides 8/16/32), got ${session.outputNames.length}: ${describe(session)}`,
      );
    }
    const expectLast = [1, 1, 1, 4, 4, 4, 10, 10, 10];
    session.outputNames.forEach((name, i) => {
      const shape = declaredShape(session, name, "output");
      const last = shape?.[shape.length - 1];
      if (last !== undefined && last !== expectLast[i]) {
        throw fail(`output ${i} (${name}) should end in ${expectLast[i]}, has shape ${JSON.stringify(shape)}; outputs: ${describe(session)}`);
      }
    });
    this.input = session.inputNames[0];
    this.height = inShape[2] ?? 640;
    this.width = inShape[3] ?? 640;
    if (this.width % 32 !== 0 || this.height % 32 !== 0) throw fail(`input size ${this.width}x${this.height} is not a multiple of 32`);
  }

  async candidates(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]> {
    const { tensor, scale } = letterboxToPlanarRGB(img, this.width, this.height, { mean: 127.5, std: 128 });
    const out = await this.session.run({ [this.input]: new ort.Tensor("float32", tensor, [1, 3, this.height, this.width]) });
    const o = this.session.outputNames.map((n) => out[n].data as Float32Array);
    const found: Candidate[] = [];
    STRIDES.forEach((stride, k) => {
      const scores = o[k];
      const dist = o[k + 3];
      const kps = o[k + 6];
      const fw = Math.ceil(this.width / stride);
      const fh = Math.ceil(this.height / stride);
      const anchors = scores.length / (fw * fh);
      if (!Number.isInteger(anchors) || dist.length !== scores.length * 4 || kps.length !== scores.length * 10) {
        throw new FaceError("INTERNAL", `SCRFD outputs for stride ${stride} have unexpected sizes`);
      }
      for (let i = 0; i < scores.length; i++) {
        const score = scores[i];
        if (score < threshold) continue;
        const cell = Math.floor(i / anchors);
        const cx = (cell % fw) * stride;
        const cy = Math.floor(cell / fw) * stride;
        const points: Points = [];
        for (let p = 0; p < 5; p++) {
          points.push([(cx + kps[10 * i + 2 * p] * stride) / scale, (cy + kps[10 * i + 2 * p + 1] * stride) / scale]);
        }
        found.push({
          x1: (cx - dist[4 * i] * stride) / scale,
          y1: (cy - dist[4 * i + 1] * stride) / scale,
          x2: (cx + dist[4 * i + 2] * stride) / scale,
          y2: (cy + dist[4 * i + 3] * stride) / scale,
          score,
          kps: points,
        });
      }
    });
    for (const t of Object.values(out)) t.dispose?.();
    return nms(found, nmsIou);
  }

  async points(_img: DecodedImage, face: Candidate): Promise<LocatedPoints> {
    if (!face.kps) throw new FaceError("INTERNAL", "SCRFD candidate without keypoints");
    return { five: face.kps };
  }
}

/** Loads and checks an SCRFD-style detector. */
export async function loadInsightFaceDetector(path: string, open: Open): Promise<{ locator: ScrfdLocator; id: string }> {
  const { id } = readModel(path, "INSIGHTFACE_DETECTOR");
  const session = await open(path);
  return { locator: new ScrfdLocator(session, path), id };
}

/** Loads and checks an ArcFace-style recognizer. */
export async function loadInsightFaceRecognizer(path: string, open: Open): Promise<{ embedder: Embedder; id: string }> {
  const { id } = readModel(path, "INSIGHTFACE_RECOGNIZER");
  const session = await open(path);
  try {
    return { embedder: new Embedder(session, { mean: 127.5, std: 127.5 }), id };
  } catch (error) {
    if (FaceError.is(error)) throw new FaceError("INVALID_ARGUMENT", `${path} is not an ArcFace-style recognizer: ${error.message}`);
    throw error;
  }
}
