/**
 * Geometry for the Human engine: the 5 ArcFace points from the 468-point facemesh, and box overlap.
 * Points are ordered like the ONNX engine's: image-left eye, image-right eye, nose tip, image-left
 * mouth corner, image-right mouth corner (in a photo the subject's right eye is on the image left).
 */

/** A mesh point [x, y, z?] (Human's `Point`). */
export type MeshPoint = readonly [number, number, ...unknown[]];

/** MediaPipe facemesh contours (Human's `rightEyeUpper0`+`rightEyeLower0` etc.). */
const SUBJECT_RIGHT_EYE = [246, 161, 160, 159, 158, 157, 173, 33, 7, 163, 144, 145, 153, 154, 155, 133];
const SUBJECT_LEFT_EYE = [466, 388, 387, 386, 385, 384, 398, 263, 249, 390, 373, 374, 380, 381, 382, 362];
const NOSE_TIP = [1];
/** Outer and inner lip corners, averaged like the 68-point mapping (48+60, 54+64). */
const SUBJECT_RIGHT_MOUTH = [61, 78];
const SUBJECT_LEFT_MOUTH = [291, 308];

export const MESH_POINTS = 468;

function mean(mesh: readonly MeshPoint[], idx: readonly number[]): [number, number] {
  let x = 0;
  let y = 0;
  for (const i of idx) {
    x += mesh[i][0];
    y += mesh[i][1];
  }
  return [x / idx.length, y / idx.length];
}

/** Five points from a facemesh (at least 468 points), in the mesh's coordinates. */
export function meshFivePoints(mesh: readonly MeshPoint[]): [number, number][] {
  if (mesh.length < MESH_POINTS) throw new Error(`facemesh has ${mesh.length} points, expected ${MESH_POINTS}`);
  return [
    mean(mesh, SUBJECT_RIGHT_EYE),
    mean(mesh, SUBJECT_LEFT_EYE),
    mean(mesh, NOSE_TIP),
    mean(mesh, SUBJECT_RIGHT_MOUTH),
    mean(mesh, SUBJECT_LEFT_MOUTH),
  ];
}

/** [xmin, ymin, xmax, ymax] of a mesh. */
export function meshBounds(mesh: readonly MeshPoint[]): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of mesh) {
    if (p[0] < x0) x0 = p[0];
    if (p[0] > x1) x1 = p[0];
    if (p[1] < y0) y0 = p[1];
    if (p[1] > y1) y1 = p[1];
  }
  return [x0, y0, x1, y1];
}

/** Intersection over union of two [x, y, w, h] boxes. */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}
