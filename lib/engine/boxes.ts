/** Candidate boxes: non-maximum suppression and the preference order of faces. */

/** A detection in decoded-image pixels (x1, y1, x2, y2). */
export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  /** Five points (decoded pixels) when the detector predicts them (SCRFD). */
  kps?: number[][];
}

export function iou(a: Candidate, b: Candidate): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy NMS: keeps the best-scored box of every cluster overlapping more than `threshold`. */
export function nms(candidates: Candidate[], threshold: number, maxKeep = 200): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.length >= maxKeep) break;
    if (kept.every((k) => iou(k, c) <= threshold)) kept.push(c);
  }
  return kept;
}

/**
 * Preference order: detector score first, compared at 0.01 resolution, then area.
 * Near-equal confident scores then go to the larger (nearer) face, while a large low-score box
 * (a blurred background false positive, ARCHITECTURE §3) never beats a confident face.
 */
export function byPreference<T extends { score: number; bbox: readonly number[] }>(a: T, b: T): number {
  const sa = Math.round(a.score * 100);
  const sb = Math.round(b.score * 100);
  if (sa !== sb) return sb - sa;
  return b.bbox[2] * b.bbox[3] - a.bbox[2] * a.bbox[3];
}
