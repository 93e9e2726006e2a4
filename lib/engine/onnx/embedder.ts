/**
 * Recognizer: aligned 1x3xSxS RGB face → embedding, L2-normalised. fr_feature uses (x-127)/128;
 * ArcFace-style InsightFace models use (x-127.5)/127.5.
 */
import { FaceError, l2normalize } from "../../core/mod.ts";
import { alignFace } from "./align.ts";
import type { Points } from "./landmarks.ts";
import { stageEnd, stageStart } from "../profile.ts";
import { declaredShape, ort } from "./ort.ts";
import { TensorPool, type Normalisation } from "../image/raster.ts";
import type { DecodedImage } from "../types.ts";

/** What the engine needs of a recognizer: aligned face → unit embedding of `dim` floats. */
export interface FaceEmbedder {
  readonly dim: number;
  embed(img: DecodedImage, points: Points): Promise<Float32Array>;
}

export class Embedder implements FaceEmbedder {
  readonly size: number;
  readonly dim: number;
  private readonly input: string;
  private readonly output: string;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly norm: Normalisation,
  ) {
    const inShape = declaredShape(session, session.inputNames[0], "input");
    if (!inShape || inShape.length !== 4 || inShape[1] !== 3 || inShape[2] !== 112 || inShape[3] !== 112) {
      throw new FaceError(
        "INVALID_ARGUMENT",
        `recognizer input must be [1,3,112,112] (an aligned ArcFace crop), got ${JSON.stringify(inShape)}`,
      );
    }
    const outShape = declaredShape(session, session.outputNames[0], "output");
    const dim = outShape?.[outShape.length - 1];
    if (!outShape || outShape.length !== 2 || !dim || dim < 64 || dim > 4096) {
      throw new FaceError("INVALID_ARGUMENT", `recognizer output must be [1,D] with 64 <= D <= 4096, got ${JSON.stringify(outShape)}`);
    }
    this.size = 112;
    this.dim = dim;
    this.input = session.inputNames[0];
    this.output = session.outputNames[0];
    this.inputs = new TensorPool(3 * this.size * this.size);
  }

  private readonly inputs: TensorPool;

  /** Embedding of the face whose 5 points (decoded pixels) are given. */
  async embed(img: DecodedImage, points: Points): Promise<Float32Array> {
    const t = stageStart();
    const aligned = this.inputs.take();
    alignFace(img, points, this.norm, this.size, aligned);
    stageEnd("align", t);
    try {
      return await this.embedTensor(aligned);
    } finally {
      this.inputs.give(aligned);
    }
  }

  async embedTensor(data: Float32Array): Promise<Float32Array> {
    const s = this.size;
    const t0 = stageStart();
    const out = await this.session.run({ [this.input]: new ort.Tensor("float32", data, [1, 3, s, s]) });
    stageEnd("embed.run", t0);
    const t = out[this.output];
    const v = l2normalize(t.data as Float32Array);
    if (!v) throw new FaceError("INTERNAL", "recognizer returned a zero or non-finite embedding");
    t.dispose?.();
    if (v.length !== this.dim) throw new FaceError("INTERNAL", `recognizer returned ${v.length} values, expected ${this.dim}`);
    return v;
  }
}
