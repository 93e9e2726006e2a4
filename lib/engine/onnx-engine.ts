/**
 * The ONNX Runtime engine: decode → detect → 5 points → align → embed. The locating stage is
 * pluggable (fr_detect + fr_landmark, or an SCRFD detector that predicts the points itself), the
 * rest is shared.
 */
import type { DetectedFace, EngineInfo } from "../core/mod.ts";
import { FaceError } from "../core/mod.ts";
import { byPreference, type Candidate } from "./boxes.ts";
import type { EngineConfig } from "./config.ts";
import type { Embedder } from "./embedder.ts";
import { toDecoded } from "./image.ts";
import type { Points } from "./landmarks.ts";
import type { AnalyzedFace, AnalyzeOptions, DecodedImage, FaceEngine, ImageSource } from "./types.ts";

/** Finds face boxes, then the 5 alignment points of one box (both in decoded-image pixels). */
export interface FaceLocator {
  candidates(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]>;
  points(img: DecodedImage, face: Candidate): Promise<Points>;
}

interface Located {
  face: DetectedFace;
  /** 5 points in decoded pixels. */
  points: Points;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

export class OnnxEngine implements FaceEngine {
  constructor(
    private readonly locator: FaceLocator,
    private readonly embedder: Embedder,
    private readonly config: EngineConfig,
    private readonly engineInfo: EngineInfo,
    private readonly release: () => Promise<void>,
  ) {}

  info(): EngineInfo {
    return { ...this.engineInfo, models: [...this.engineInfo.models] };
  }

  private decode(image: ImageSource): Promise<DecodedImage> {
    return toDecoded(image, this.config.imageLimits);
  }

  private async locate(img: DecodedImage): Promise<Located[]> {
    const { detectionThreshold, nmsIou, minFaceSize } = this.config;
    const s = img.scale;
    const found = (await this.locator.candidates(img, detectionThreshold, nmsIou)).filter(
      (c) => Math.min(c.x2 - c.x1, c.y2 - c.y1) * s >= minFaceSize,
    );
    const located: Located[] = [];
    for (const c of found) {
      const points = await this.locator.points(img, c);
      const x1 = Math.max(0, c.x1 * s);
      const y1 = Math.max(0, c.y1 * s);
      const x2 = Math.min(img.originalWidth, c.x2 * s);
      const y2 = Math.min(img.originalHeight, c.y2 * s);
      located.push({
        points,
        face: {
          bbox: [round2(x1), round2(y1), round2(x2 - x1), round2(y2 - y1)],
          score: c.score,
          landmarks: points.map(([x, y]) => [round2(x * s), round2(y * s)] as [number, number]),
        },
      });
    }
    return located.sort((a, b) => byPreference(a.face, b.face));
  }

  async detect(image: ImageSource): Promise<DetectedFace[]> {
    const img = await this.decode(image);
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
    const img = await this.decode(image);
    const located = await this.locate(img);
    const n = Math.min(located.length, options.maxFaces ?? located.length);
    const result: AnalyzedFace[] = [];
    for (let i = 0; i < n; i++) {
      result.push({ ...located[i].face, embedding: await this.embedder.embed(img, located[i].points) });
    }
    return result;
  }

  dispose(): Promise<void> {
    return this.release();
  }
}
