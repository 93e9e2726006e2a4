/**
 * Geometry over landmark sets: the 68 iBUG points of one face, normalised to its eyes, and a
 * least-squares homography between two sets. A planar picture (a print, a phone held up) maps
 * from one frame to the next by one homography; a head does not (expressions, parallax).
 */

export type Pt = readonly [number, number];

/** iBUG 68 indices. */
export const CONTOUR = range(0, 17);
export const NOSE = range(27, 36);
export const LEFT_EYE = range(36, 42);
export const RIGHT_EYE = range(42, 48);
export const EYES = range(36, 48);
export const OUTER_LIPS = range(48, 60);
/** Points that move with the skull: jaw line, nose, eye corners (not lids or lips). */
export const RIGID = [...CONTOUR, ...NOSE, 36, 39, 42, 45];

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

export function mean(points: readonly Pt[], idx: readonly number[]): [number, number] {
  let x = 0;
  let y = 0;
  for (const i of idx) {
    x += points[i][0];
    y += points[i][1];
  }
  return [x / idx.length, y / idx.length];
}

export const dist = (a: Pt, b: Pt): number => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Distance between the eye centres, in the points' units (pixels for raw landmarks). */
export function interocular(p68: readonly Pt[]): number {
  return dist(mean(p68, LEFT_EYE), mean(p68, RIGHT_EYE));
}

/** The points centred on the rigid points' mean and divided by the interocular distance. */
export function normalizeShape(p68: readonly Pt[]): [number, number][] {
  const [cx, cy] = mean(p68, RIGID);
  const s = interocular(p68) || 1;
  return p68.map(([x, y]) => [(x - cx) / s, (y - cy) / s]);
}

export type Homography = readonly number[]; // 9 values, row-major, h[8] = 1

/**
 * Least-squares homography (h33 = 1) mapping src[i] to dst[i] over the given indices, from the
 * 8x8 normal equations; null when degenerate. Inputs should be normalised (order 1) for conditioning.
 */
export function fitHomography(src: readonly Pt[], dst: readonly Pt[], idx: readonly number[]): Homography | null {
  const ata = Array.from({ length: 8 }, () => new Array<number>(8).fill(0));
  const atb = new Array<number>(8).fill(0);
  const addRow = (row: number[], b: number) => {
    for (let i = 0; i < 8; i++) {
      atb[i] += row[i] * b;
      for (let j = 0; j < 8; j++) ata[i][j] += row[i] * row[j];
    }
  };
  for (const k of idx) {
    const [x, y] = src[k];
    const [u, v] = dst[k];
    addRow([x, y, 1, 0, 0, 0, -u * x, -u * y], u);
    addRow([0, 0, 0, x, y, 1, -v * x, -v * y], v);
  }
  const h = solve(ata, atb);
  return h ? [...h, 1] : null;
}

/** Gaussian elimination with partial pivoting; null when singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    if (Math.abs(m[p][c]) < 1e-12) return null;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      if (f === 0) continue;
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

export function applyHomography(h: Homography, [x, y]: Pt): [number, number] {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

/** Root mean square distance between mapped src points and dst points, over idx. */
export function rmsResidual(h: Homography, src: readonly Pt[], dst: readonly Pt[], idx: readonly number[]): number {
  let sum = 0;
  for (const k of idx) {
    const [x, y] = applyHomography(h, src[k]);
    sum += (x - dst[k][0]) ** 2 + (y - dst[k][1]) ** 2;
  }
  return Math.sqrt(sum / idx.length);
}
