/** Vector and box math shared by the engine, the service, the kiosk and the kiosk page. Runtime-free. */
import { FaceError } from "./errors.ts";
import type { BBox } from "./schemas.ts";

function sumOfSquares(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  return sum;
}

function scaled(vector: ArrayLike<number>, factor: number): Float32Array {
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] * factor;
  return out;
}

/** A unit-length copy, or null for a zero or non-finite vector (callers choose the error). */
export function l2normalize(vector: ArrayLike<number>): Float32Array | null {
  const sum = sumOfSquares(vector);
  return sum > 0 && Number.isFinite(sum) ? scaled(vector, 1 / Math.sqrt(sum)) : null;
}

/** An embedding as the gallery stores it: L2-normalised; INVALID_ARGUMENT on a zero or non-finite vector. */
export function normalize(vector: ArrayLike<number>): Float32Array {
  const sum = sumOfSquares(vector);
  if (!(sum > 0) || !Number.isFinite(sum)) throw new FaceError("INVALID_ARGUMENT", "embedding must be finite and non-zero");
  // already unit length (float32 rounding): keep the values bit-exact
  if (Math.abs(sum - 1) < 1e-5) return Float32Array.from(vector);
  return scaled(vector, 1 / Math.sqrt(sum));
}

/** Cosine similarity over the common length; 0 when either vector is zero. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const denom = Math.sqrt(na) * Math.sqrt(nb);
  return denom > 0 ? dot / denom : 0;
}

/** Intersection over union of two [x, y, width, height] boxes. */
export function bboxIou(a: BBox, b: BBox): number {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y2 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}
