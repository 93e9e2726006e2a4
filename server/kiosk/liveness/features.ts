/**
 * What one face's landmarks say, and what changed between two frames of the same face:
 * - rigid: residual of the rigid points (jaw, nose, eye corners) after the best homography:
 *   3D parallax under head motion (a planar picture has none);
 * - eyes / mouth: residual of the eyelids and outer lips after the rigid points' homography:
 *   blinks, talking, expressions (non-rigid motion relative to a rigid fit);
 * - ear / mar: change of the eye and mouth aspect ratios (the same, measured as ratios).
 * All in interocular units, so they do not depend on face size or on zoom.
 */
import {
  dist,
  EYES,
  fitHomography,
  interocular,
  mean,
  OUTER_LIPS,
  RIGID,
  rmsResidual,
  type Pt,
} from "./geometry.ts";

/** Eye aspect ratio (Soukupová & Čech), mean of both eyes: ~0.3 open, < 0.2 closed. */
export function eyeAspectRatio(p: readonly Pt[]): number {
  const eye = (i: number) => (dist(p[i + 1], p[i + 5]) + dist(p[i + 2], p[i + 4])) / (2 * dist(p[i], p[i + 3]) || 1);
  return (eye(36) + eye(42)) / 2;
}

/** Inner-lip opening over inner mouth width: ~0 closed, grows when talking. */
export function mouthAspectRatio(p: readonly Pt[]): number {
  return (dist(p[61], p[67]) + dist(p[62], p[66]) + dist(p[63], p[65])) / (3 * dist(p[60], p[64]) || 1);
}

/** Mouth corner distance over interocular distance: grows with a smile. */
export function mouthWidth(p: readonly Pt[]): number {
  return dist(p[48], p[54]) / (interocular(p) || 1);
}

/**
 * Yaw proxy from the 5 points (left eye, right eye, nose, mouth corners, image left/right): the
 * nose's offset from the eyes' midpoint along the eye line, in interocular units. 0 facing the
 * camera; grows when the face turns towards the image right (the person's left, unmirrored camera).
 */
export function yaw5(p5: readonly Pt[]): number {
  const [l, r, nose] = p5;
  const ex = r[0] - l[0];
  const ey = r[1] - l[1];
  const len = Math.hypot(ex, ey) || 1;
  const mx = (l[0] + r[0]) / 2;
  const my = (l[1] + r[1]) / 2;
  return ((nose[0] - mx) * ex + (nose[1] - my) * ey) / (len * len);
}

export interface PairSignals {
  rigid: number;
  eyes: number;
  mouth: number;
  ear: number;
  mar: number;
}
export type Signal = keyof PairSignals;
export const SIGNALS: readonly Signal[] = ["rigid", "eyes", "mouth", "ear", "mar"];

/** Signals between two normalised 68-point shapes (see ./geometry.ts normalizeShape). */
export function pairSignals(a: readonly Pt[], b: readonly Pt[]): PairSignals | null {
  const h = fitHomography(a, b, RIGID);
  if (!h) return null;
  return {
    rigid: rmsResidual(h, a, b, RIGID),
    eyes: rmsResidual(h, a, b, EYES),
    mouth: rmsResidual(h, a, b, OUTER_LIPS),
    ear: Math.abs(eyeAspectRatio(a) - eyeAspectRatio(b)),
    mar: Math.abs(mouthAspectRatio(a) - mouthAspectRatio(b)),
  };
}

/** Centre of the eyes (for debugging and tests). */
export const eyesCentre = (p: readonly Pt[]): [number, number] => mean(p, EYES);
