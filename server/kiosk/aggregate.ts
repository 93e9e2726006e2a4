/**
 * Multi-frame aggregation: a tracked face's recent embeddings, weighted by how usable each frame
 * is, averaged into one query for a search by embedding (FaceApi.searchEmbedding). Averaging
 * several probes of the same person cuts stranger false accepts (issue 9: two probe photos took
 * FNIR at FPIR 1 % from 7.2 % to 3.0 % offline), and a blurred or small frame counts less.
 *
 * Weight of a frame = detection score x size factor x motion factor:
 * - size: the box's shorter side over 112 px (the aligned crop's size), capped at 1;
 * - motion: frames where the face moved far since the previous frame are motion-blurred at kiosk
 *   exposure times; 1 / (1 + displacement / box width x 4), from the box centres (our sharpness proxy:
 *   the JPEG pixels are not decoded again here).
 */
import { normalize, type BBox, type Recognition } from "../../lib/core/mod.ts";

export interface WeightedEmbedding {
  embedding: readonly number[];
  weight: number;
}

const SIZE_REF_PX = 112;
const MOTION_K = 4;

/** How much a frame of a face counts (0..1). `previous`: the track's box in its last frame. */
export function frameWeight(face: Pick<Recognition, "bbox" | "detectionScore">, previous?: BBox): number {
  if (!face.bbox) return 0;
  const [x, y, w, h] = face.bbox;
  const score = Math.max(0, Math.min(1, face.detectionScore ?? 1));
  const size = Math.min(1, Math.min(w, h) / SIZE_REF_PX);
  let motion = 1;
  if (previous) {
    const moved = Math.hypot(x + w / 2 - (previous[0] + previous[2] / 2), y + h / 2 - (previous[1] + previous[3] / 2));
    motion = 1 / (1 + (moved / Math.max(1, w)) * MOTION_K);
  }
  return score * size * motion;
}

/** Weighted mean of the embeddings, L2-normalised; null when nothing has weight. */
export function aggregateEmbeddings(items: readonly WeightedEmbedding[]): number[] | null {
  const usable = items.filter((i) => i.weight > 0 && i.embedding.length > 0);
  if (usable.length === 0) return null;
  const dim = usable[0].embedding.length;
  const sum = new Float64Array(dim);
  for (const { embedding, weight } of usable) {
    if (embedding.length !== dim) continue;
    for (let d = 0; d < dim; d++) sum[d] += embedding[d] * weight;
  }
  try {
    return Array.from(normalize(Float32Array.from(sum)));
  } catch {
    return null; // all-zero or non-finite: no query
  }
}
