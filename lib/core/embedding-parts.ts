/**
 * The models inside a fused embedding (EngineInfo.parts): each model's slice holds its unit embedding
 * scaled by √weight (lib/engine/onnx/fusion.ts), so each model's own score and vector stay recoverable.
 */
import type { EmbeddingPart } from "./schemas.ts";

/**
 * Each model's cosine between two fused vectors (each slice normalised: exact for single photos, and the
 * per-model score of a template, whose slices are no longer unit length).
 */
export function partScores(parts: readonly EmbeddingPart[], a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  return parts.map(({ offset, dim }) => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let k = offset; k < offset + dim; k++) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  });
}

/** One model's unit embedding out of a fused vector (its slice, normalised), or undefined when the slice is empty. */
export function partEmbedding(part: EmbeddingPart, fused: ArrayLike<number>): Float32Array | undefined {
  const v = Float32Array.from({ length: part.dim }, (_, k) => fused[part.offset + k]);
  const n = Math.hypot(...v);
  if (!(n > 0) || !Number.isFinite(n)) return undefined;
  for (let k = 0; k < v.length; k++) v[k] /= n;
  return v;
}
