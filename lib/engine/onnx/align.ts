/**
 * 5-point alignment: least-squares similarity transform of the landmarks onto the ArcFace 112x112
 * template, then a bilinear warp straight into the recognizer's input tensor.
 */
import type { Points } from "./landmarks.ts";
import { warpToPlanarRGB, type Normalisation } from "../image/raster.ts";
import type { DecodedImage } from "../types.ts";

/** The ArcFace (InsightFace) reference points for a 112x112 crop. */
export const ARCFACE_TEMPLATE: Points = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

/** A similarity x' = a x - b y + tx, y' = b x + a y + ty. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/** Least-squares similarity mapping `src` onto `dst` (closed form; equals Umeyama without reflection). */
export function estimateSimilarity(src: Points, dst: Points): Similarity {
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i][0]; sy += src[i][1]; dx += dst[i][0]; dy += dst[i][1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i][0] - sx, py = src[i][1] - sy;
    const qx = dst[i][0] - dx, qy = dst[i][1] - dy;
    num1 += px * qx + py * qy;
    num2 += px * qy - py * qx;
    den += px * px + py * py;
  }
  if (den === 0) return { a: 1, b: 0, tx: dx - sx, ty: dy - sy };
  const a = num1 / den;
  const b = num2 / den;
  return { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) };
}

/** The inverse of a similarity as the 2x3 destination→source matrix the warp kernel takes. */
export function inverseMatrix(t: Similarity): [number, number, number, number, number, number] {
  const k = t.a * t.a + t.b * t.b;
  const ia = t.a / k;
  const ib = t.b / k;
  // inverse rotation-scale [[ia, ib], [-ib, ia]], translation -R^-1 t
  return [ia, ib, -(ia * t.tx + ib * t.ty), -ib, ia, -(-ib * t.tx + ia * t.ty)];
}

/** Aligned `size x size` planar RGB tensor for 5 points in decoded-image pixels. */
export function alignFace(img: DecodedImage, points: Points, norm: Normalisation, size = 112, out?: Float32Array): Float32Array {
  const f = size / 112;
  const template = f === 1 ? ARCFACE_TEMPLATE : ARCFACE_TEMPLATE.map(([x, y]) => [x * f, y * f]);
  return warpToPlanarRGB(img, inverseMatrix(estimateSimilarity(points, template)), size, size, norm, out);
}
