/**
 * The enrollment quality gate: a face is enrolled only when it is large, sharp, frontal enough, confidently
 * detected and the only face of its size in the photo; otherwise FACE_QUALITY names the check, the
 * measured value and the bound. Bounds are configurable (ENROLL_QUALITY_*); the defaults refuse
 * <1 % of LFW (README, "Accuracy and operating points").
 *
 * Pose comes from the five landmarks (eyes, nose tip, mouth corners): roll is the tilt of the eye line;
 * with the face de-rotated, yaw is the nose tip's sideways offset from the eye midpoint (the nose tip
 * stands ~0.6 inter-ocular distances in front of the eyes: offset/IOD = 0.6·tan(yaw)), and pitch its
 * vertical position between the eye and mouth lines (0.5 when level). Sharpness is the variance of the
 * Laplacian of the face box resampled to 64x64 grey levels, so it does not grow with the face's size.
 *
 * The dominant-face check is off by default (ratio 1): the first release enrolls the largest of several
 * faces (ENROLL_MULTIPLE_FACES=largest), and group photos are enrolled that way.
 */
import { type BBox, FaceError, type ImageInput, type Point } from "../core/internal.ts";

export interface QualityBounds {
  /** Shorter side of the face box, pixels of the original image. */
  minFaceSize: number;
  /** Variance of the Laplacian (64x64 grey face). */
  minSharpness: number;
  /** Degrees. */
  maxYaw: number;
  maxPitch: number;
  maxRoll: number;
  minDetectionScore: number;
  /** Area of the second-largest face / the largest: above this the photo has no dominant face. */
  maxSecondFaceRatio: number;
}

export const DEFAULT_QUALITY_BOUNDS: QualityBounds = {
  minFaceSize: 48,
  minSharpness: 15,
  maxYaw: 50,
  maxPitch: 40,
  maxRoll: 50,
  minDetectionScore: 0.9,
  maxSecondFaceRatio: 1,
};

export interface QualityMeasures {
  faceSize: number;
  sharpness: number;
  yaw: number;
  pitch: number;
  roll: number;
  detectionScore: number;
  secondFaceRatio: number;
}

const deg = (r: number) => (r * 180) / Math.PI;

/** Yaw, pitch and roll in degrees from 5 landmarks (left eye, right eye, nose, left mouth, right mouth). */
export function poseFromLandmarks(landmarks: readonly Point[]): { yaw: number; pitch: number; roll: number } {
  if (landmarks.length < 5) return { yaw: 0, pitch: 0, roll: 0 };
  const [le, re, nose, lm, rm] = landmarks;
  const roll = Math.atan2(re[1] - le[1], re[0] - le[0]);
  const c = Math.cos(-roll);
  const s = Math.sin(-roll);
  const rot = (p: Point): Point => [p[0] * c - p[1] * s, p[0] * s + p[1] * c];
  const [l, r, n, ml, mr] = [le, re, nose, lm, rm].map(rot);
  const iod = Math.max(1e-6, Math.hypot(r[0] - l[0], r[1] - l[1]));
  const eye: Point = [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2];
  const mouth: Point = [(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2];
  const yaw = Math.atan((n[0] - eye[0]) / iod / 0.6);
  const span = mouth[1] - eye[1];
  const t = Math.abs(span) > 1e-6 ? (n[1] - eye[1]) / span : 0.5;
  const pitch = Math.atan(((t - 0.5) * span) / (0.6 * iod));
  return { yaw: deg(yaw), pitch: deg(pitch), roll: deg(roll) };
}

const SHARPNESS_SIZE = 64;

/** Variance of the 4-neighbour Laplacian of an N x N grey image. */
export function laplacianVariance(grey: ArrayLike<number>, n: number): number {
  let sum = 0;
  let sum2 = 0;
  let count = 0;
  for (let j = 1; j < n - 1; j++) {
    for (let i = 1; i < n - 1; i++) {
      const o = j * n + i;
      const lap = grey[o - 1] + grey[o + 1] + grey[o - n] + grey[o + n] - 4 * grey[o];
      sum += lap;
      sum2 += lap * lap;
      count++;
    }
  }
  const mean = sum / count;
  return sum2 / count - mean * mean;
}

/**
 * Sharpness of the face box: cut out and resampled to 64x64 grey by libvips (its own threads: the event
 * loop only sees the 64x64 result), EXIF orientation applied as the engine does.
 */
export async function faceSharpness(image: ImageInput, bbox: BBox, sourceScale = 1): Promise<number> {
  const [{ default: sharp }, { imageBytes }] = await Promise.all([import("sharp"), import("../engine/internal.ts")]);
  const bytes = imageBytes(image);
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  // orientations 5-8 swap the sides
  const swap = (meta.orientation ?? 1) >= 5;
  const width = (swap ? meta.height : meta.width) ?? 0;
  const height = (swap ? meta.width : meta.height) ?? 0;
  const rotated = sharp(bytes, { limitInputPixels: false }).rotate();
  // The box is in the original's pixels; these bytes may be a copy downscaled `sourceScale` times.
  const [bx, by, bw, bh] = bbox.map((v) => v / sourceScale);
  const left = Math.max(0, Math.floor(bx));
  const top = Math.max(0, Math.floor(by));
  const w = Math.max(1, Math.min(width - left, Math.round(bw)));
  const h = Math.max(1, Math.min(height - top, Math.round(bh)));
  const grey = await rotated
    .extract({ left, top, width: w, height: h })
    .resize(SHARPNESS_SIZE, SHARPNESS_SIZE, { fit: "fill" })
    .greyscale()
    .raw()
    .toBuffer();
  return laplacianVariance(grey, SHARPNESS_SIZE);
}

/** Every measure of the enrolled face (`face`, the largest of `all`). */
export async function measureQuality(
  image: ImageInput,
  face: { bbox: BBox; score: number; landmarks: Point[] },
  all: ReadonlyArray<{ bbox: BBox }>,
  sourceScale = 1,
): Promise<QualityMeasures> {
  const area = (b: BBox) => b[2] * b[3];
  let second = 0;
  for (const f of all) if (f.bbox !== face.bbox) second = Math.max(second, area(f.bbox));
  const pose = poseFromLandmarks(face.landmarks);
  return {
    faceSize: Math.min(face.bbox[2], face.bbox[3]),
    sharpness: await faceSharpness(image, face.bbox, sourceScale),
    ...pose,
    detectionScore: face.score,
    secondFaceRatio: area(face.bbox) > 0 ? second / area(face.bbox) : 0,
  };
}

/** The first failed check as FACE_QUALITY (details: check, value, bound), or nothing. */
export function checkQuality(m: QualityMeasures, b: QualityBounds): void {
  const checks: Array<[string, number, number, "min" | "max", string]> = [
    ["face_size", m.faceSize, b.minFaceSize, "min", "px"],
    ["detection_score", m.detectionScore, b.minDetectionScore, "min", ""],
    ["sharpness", m.sharpness, b.minSharpness, "min", ""],
    ["yaw", Math.abs(m.yaw), b.maxYaw, "max", "°"],
    ["pitch", Math.abs(m.pitch), b.maxPitch, "max", "°"],
    ["roll", Math.abs(m.roll), b.maxRoll, "max", "°"],
    ["dominant_face", m.secondFaceRatio, b.maxSecondFaceRatio, "max", ""],
  ];
  for (const [check, value, bound, kind, unit] of checks) {
    if (kind === "min" ? value >= bound : value <= bound) continue;
    const v = Number(value.toFixed(3));
    const what = check === "dominant_face" ? "second face / largest face area" : check.replace("_", " ");
    throw new FaceError(
      "FACE_QUALITY",
      `face quality check ${check} failed: ${what} ${v}${unit}, needs ${kind === "min" ? "≥" : "≤"} ${bound}${unit}`,
      { details: { check, value: v, bound, measures: m } },
    );
  }
}
