/**
 * The ONNX Runtime engine: decode → detect → 5 points → align → embed. The locating stage is
 * pluggable (fr_detect + fr_landmark, or an SCRFD detector that predicts the points itself), the
 * rest is shared.
 */
import type { DetectedFace, EngineInfo } from "../../core/mod.ts";
import { FaceError } from "../../core/mod.ts";
import { byPreference, type Candidate } from "../boxes.ts";
import type { EngineConfig } from "../config.ts";
import type { FaceEmbedder } from "./embedder.ts";
import { fromDownscaled, toDecoded } from "../image/image.ts";
import { padReplicate } from "../image/raster.ts";
import type { Points } from "./landmarks.ts";
import type { AnalyzedFace, AnalyzeOptions, DecodedImage, DetectOptions, FaceEngine, ImageSource } from "../types.ts";

/** The 5 alignment points of a face, and the dense set when the locator has one (decoded pixels). */
export interface LocatedPoints {
  five: Points;
  /** fr_landmark's 68 iBUG points (liveness reads eyelids and lips from them); SCRFD has none. */
  dense?: Points;
}

/** Finds face boxes, then the alignment points of one box (both in decoded-image pixels). */
export interface FaceLocator {
  candidates(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]>;
  points(img: DecodedImage, face: Candidate): Promise<LocatedPoints>;
}

interface Located {
  face: DetectedFace;
  /** 5 points in decoded pixels. */
  points: Points;
  /** The dense points in original-image pixels, when the locator has them. */
  dense?: [number, number][];
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Retry-with-border for images up to this side (decoded px): tight face crops, not scenes. */
const TIGHT_CROP_MAX_SIDE = 640;
/** Border added on each side, as a fraction of the longer side (25 % found every bbt crop, no noface false positive). */
const TIGHT_CROP_PAD = 0.25;

export class OnnxEngine implements FaceEngine {
  constructor(
    private readonly locator: FaceLocator,
    private readonly embedder: FaceEmbedder,
    private readonly config: EngineConfig,
    private readonly engineInfo: EngineInfo,
    private readonly release: () => Promise<void>,
  ) {}

  info(): EngineInfo {
    return { ...this.engineInfo, models: [...this.engineInfo.models] };
  }

  private async decode(image: ImageSource, sourceScale?: number): Promise<DecodedImage> {
    return fromDownscaled(await toDecoded(image, this.config.imageLimits), sourceScale);
  }

  private async candidates(img: DecodedImage): Promise<Candidate[]> {
    const { detectionThreshold, nmsIou, minFaceSize } = this.config;
    const s = img.scale;
    return (await this.locator.candidates(img, detectionThreshold, nmsIou)).filter(
      (c) => Math.min(c.x2 - c.x1, c.y2 - c.y1) * s >= minFaceSize,
    );
  }

  /**
   * Faces in preference order; landmarks only for the first `limit` (the order needs only score and
   * box, so a caller that embeds one face of a crowd pays for one face's landmark passes).
   */
  private async locate(img: DecodedImage, limit = Infinity): Promise<Located[]> {
    const s = img.scale;
    let found = await this.candidates(img);
    let pad = 0;
    let source = img;
    if (found.length === 0 && Math.max(img.width, img.height) <= TIGHT_CROP_MAX_SIDE) {
      // A face filling the whole frame (a tight crop) is often missed; once more with a border.
      pad = Math.round(Math.max(img.width, img.height) * TIGHT_CROP_PAD);
      source = padReplicate(img, pad);
      found = await this.candidates(source);
    }
    const boxes = found.map((f) => {
      // Box in `source` pixels, shifted back to the image, then to original pixels.
      const x1 = Math.max(0, (f.x1 - pad) * s);
      const y1 = Math.max(0, (f.y1 - pad) * s);
      const x2 = Math.min(img.originalWidth, (f.x2 - pad) * s);
      const y2 = Math.min(img.originalHeight, (f.y2 - pad) * s);
      return { candidate: f, score: f.score, bbox: [round2(x1), round2(y1), round2(x2 - x1), round2(y2 - y1)] as [number, number, number, number] };
    });
    boxes.sort(byPreference);
    const located: Located[] = [];
    for (const { candidate, score, bbox } of boxes.slice(0, Math.min(boxes.length, limit))) {
      const found = await this.locator.points(source, candidate);
      const points = found.five.map(([x, y]) => [x - pad, y - pad]);
      const toOriginal = ([x, y]: number[]): [number, number] => [round2((x - pad) * s), round2((y - pad) * s)];
      located.push({
        points,
        face: { bbox, score, landmarks: points.map(([x, y]) => [round2(x * s), round2(y * s)] as [number, number]) },
        ...(found.dense ? { dense: found.dense.map(toOriginal) } : {}),
      });
    }
    return located;
  }

  async detect(image: ImageSource, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const img = await this.decode(image, options.sourceScale);
    return (await this.locate(img)).map((l) => l.face);
  }

  async embed(image: ImageSource, face: DetectedFace): Promise<Float32Array> {
    if (!face || !Array.isArray(face.landmarks) || face.landmarks.length !== 5) {
      throw new FaceError("INVALID_ARGUMENT", "embed needs a detected face with 5 landmarks");
    }
    const img = await this.decode(image);
    const points = face.landmarks.map(([x, y]) => [x / img.scale, y / img.scale]);
    return this.embedder.embed(img, points);
  }

  async analyze(image: ImageSource, options: AnalyzeOptions = {}): Promise<AnalyzedFace[]> {
    const img = await this.decode(image, options.sourceScale);
    const located = await this.locate(img, options.maxFaces);
    const n = Math.min(located.length, options.maxFaces ?? located.length);
    const result: AnalyzedFace[] = [];
    for (let i = 0; i < n; i++) {
      const { face, points, dense } = located[i];
      result.push({ ...face, embedding: await this.embedder.embed(img, points), ...(dense ? { landmarks68: dense } : {}) });
    }
    return result;
  }

  dispose(): Promise<void> {
    return this.release();
  }
}
