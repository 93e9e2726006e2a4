/**
 * Score-level fusion of two recognizers as one vector.
 *
 * Both models embed the same aligned crop; the fused embedding is `[√w₁·a, √w₂·b]` for the unit embeddings
 * a and b and weights w₁ + w₂ = 1. It is a unit vector, and the cosine of two fused vectors is exactly
 * `w₁·cos(a, a') + w₂·cos(b, b')`: the weighted sum of the models' scores. A z-score fusion
 * `(s₁ − μ₁)/σ₁ + β·(s₂ − μ₂)/σ₂` (μ, σ of each model's impostor scores) is the same ranking and the same
 * decisions as this sum with w₁ ∝ 1/σ₁ and w₂ ∝ β/σ₂, up to a monotone affine map that the fused
 * calibration absorbs (it is measured on the fused score itself). So galleries, templates (the mean of
 * fused vectors), the search kernels, export, initial data and NATS carry fused vectors unchanged, and
 * each model's own score stays recoverable from its slice (`partScores`).
 *
 * The weights are fitted on the calibration data by `bun bench/fusion-fit.ts` (impostor σ of each model on
 * LFW dev, β chosen there); they are part of the model id, so vectors of other weights never mix.
 */
import { type EmbeddingPart, FaceError } from "../../core/mod.ts";
export { partEmbedding, partScores } from "../../core/internal.ts";
import type { FaceEmbedder } from "./embedder.ts";
import type { Points } from "./landmarks.ts";
import type { DecodedImage } from "../types.ts";

/**
 * The fitted weight of the first model of each supported pair (bench/fusion-fit.ts; docs/engine.md).
 * β = 1 (the plain z-score sum): impostor σ 0.0976 (fr_feature) and 0.1441 (MobileFaceNet) on LFW dev
 * (bench/results/fusion-fit.json) give w = 0.596, kept at 0.60 (the id says w60).
 */
export const FUSION_WEIGHTS: Readonly<Record<string, number>> = {
  "fr_feature+mobilefacenet": 0.6,
};

/** The model id of a fused embedding: the parts' ids and the first part's weight in percent. */
export function fusedModelId(parts: readonly { modelId: string; weight: number }[]): string {
  return `${parts.map((p) => p.modelId).join("+")}~w${Math.round(parts[0].weight * 100)}`;
}

/** The weight of the first of two named recognizers, or an INVALID_ARGUMENT naming the pair. */
export function fusionWeight(names: readonly string[]): number {
  const w = FUSION_WEIGHTS[names.join("+")];
  if (w === undefined) {
    throw new FaceError("INVALID_ARGUMENT", `FACE_EMBEDDERS=${names.join(",")}: no fusion weights fitted for this pair (fitted: ${Object.keys(FUSION_WEIGHTS).join(", ")})`);
  }
  return w;
}

export class FusedEmbedder implements FaceEmbedder {
  readonly dim: number;
  readonly parts: EmbeddingPart[];
  private readonly scales: number[];

  constructor(
    private readonly embedders: readonly FaceEmbedder[],
    ids: readonly string[],
    firstWeight: number,
  ) {
    if (embedders.length !== 2 || ids.length !== 2) throw new FaceError("INTERNAL", "fusion takes two recognizers");
    const weights = [firstWeight, 1 - firstWeight];
    let offset = 0;
    this.parts = embedders.map((e, i) => {
      const part = { modelId: ids[i], offset, dim: e.dim, weight: weights[i] };
      offset += e.dim;
      return part;
    });
    this.dim = offset;
    this.scales = weights.map(Math.sqrt);
  }

  async embed(img: DecodedImage, points: Points): Promise<Float32Array> {
    const out = new Float32Array(this.dim);
    for (const [i, e] of this.embedders.entries()) {
      const v = await e.embed(img, points);
      const { offset } = this.parts[i];
      const s = this.scales[i];
      for (let k = 0; k < v.length; k++) out[offset + k] = v[k] * s;
    }
    return out;
  }
}
