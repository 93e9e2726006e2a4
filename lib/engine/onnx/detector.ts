/**
 * fr_detect (UltraFace-like, 320x240): the whole image resized to the input (aspect not kept, as
 * trained), RGB (x-127)/128, NCHW. Outputs scores [1,N,2] (column 1 = face) and boxes [1,N,4]
 * (x1,y1,x2,y2 normalised to the image), already decoded. Threshold, then NMS.
 */
import { FaceError } from "../../core/mod.ts";
import { nms, type Candidate } from "../boxes.ts";
import { declaredShape, ort } from "./ort.ts";
import { stageEnd, stageStart } from "../profile.ts";
import { resizeToPlanarRGB, TensorPool } from "../image/raster.ts";
import type { DecodedImage } from "../types.ts";

export interface Detector {
  detect(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]>;
}

export class UltraFaceDetector implements Detector {
  readonly width: number;
  readonly height: number;
  private readonly input: string;

  constructor(private readonly session: ort.InferenceSession) {
    const shape = declaredShape(session, session.inputNames[0], "input");
    if (!shape || shape.length !== 4 || shape[1] !== 3 || !shape[2] || !shape[3]) {
      throw new FaceError("INVALID_ARGUMENT", `detector input must be [1,3,H,W], got ${JSON.stringify(shape)}`);
    }
    if (!session.outputNames.includes("scores") || !session.outputNames.includes("boxes")) {
      throw new FaceError("INVALID_ARGUMENT", `detector must have outputs "scores" and "boxes", has ${session.outputNames.join(", ")}`);
    }
    this.input = session.inputNames[0];
    this.height = shape[2];
    this.width = shape[3];
    this.inputs = new TensorPool(3 * this.width * this.height);
  }

  private readonly inputs: TensorPool;

  async detect(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]> {
    let t = stageStart();
    const data = this.inputs.take();
    resizeToPlanarRGB(img, this.width, this.height, { mean: 127, std: 128 }, data);
    stageEnd("detect.resize", t);
    t = stageStart();
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run({ [this.input]: new ort.Tensor("float32", data, [1, 3, this.height, this.width]) });
    } finally {
      this.inputs.give(data);
    }
    stageEnd("detect.run", t);
    t = stageStart();
    const scores = out.scores.data as Float32Array;
    const boxes = out.boxes.data as Float32Array;
    const n = scores.length / 2;
    const found: Candidate[] = [];
    for (let i = 0; i < n; i++) {
      const score = scores[2 * i + 1];
      if (score < threshold) continue;
      const x1 = boxes[4 * i] * img.width;
      const y1 = boxes[4 * i + 1] * img.height;
      const x2 = boxes[4 * i + 2] * img.width;
      const y2 = boxes[4 * i + 3] * img.height;
      if (x2 <= x1 || y2 <= y1) continue;
      found.push({ x1, y1, x2, y2, score });
    }
    for (const o of Object.values(out)) o.dispose?.();
    const kept = nms(found, nmsIou);
    stageEnd("detect.post", t);
    return kept;
  }
}
