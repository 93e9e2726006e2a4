/**
 * Synthetic landmark tracks for the liveness tests: one real face's 68 points (fr_landmark on a
 * frame of a selfie clip) moved as a picture would move (homographies) or as a face does (lids,
 * lips, head turn).
 */
import type { Pt } from "../../../../server/kiosk/liveness/mod.ts";

export const FACE: readonly Pt[] = [[86.0,254.6],[90.3,293.9],[95.5,330.3],[101.8,365.0],[114.7,395.2],[136.1,418.5],[163.1,435.5],[189.3,451.0],[216.2,456.4],[242.8,452.6],[268.8,438.6],[295.9,422.8],[317.5,399.8],[331.1,369.6],[338.2,334.5],[344.5,298.1],[349.3,258.4],[106.8,235.4],[124.1,216.9],[147.9,211.4],[172.3,215.4],[195.0,227.5],[239.8,228.1],[263.3,216.5],[288.0,213.6],[311.9,220.5],[328.8,240.1],[217.5,269],[217.4,292.3],[217.3,315.0],[217.1,338.0],[191.7,354.7],[204.3,358.2],[217,361.8],[229.7,358.9],[242.0,356.1],[135.9,271.4],[151.5,262.7],[169.1,264.0],[182.5,280.2],[167.0,283.8],[149,281.8],[252.3,280.9],[267.2,265.1],[284.8,265.1],[299.4,274.2],[286.0,284.2],[267.9,285.1],[169.7,387.1],[189.8,385.3],[206.4,382.6],[216.9,386.3],[227.7,383.2],[244.3,386.9],[264.9,389.4],[245.1,404.9],[228.8,410.5],[217.2,411.4],[205.7,410.1],[189.3,403.9],[177.3,388.5],[205.7,393.6],[216.7,395.9],[227.6,394.2],[257.0,390.6],[228.4,393.2],[217.4,394.6],[206.4,392.9]];

/** Deterministic noise (landmark jitter), in pixels. */
export function jitter(seed: number, amount: number): (p: Pt) => Pt {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return ([x, y]) => [x + rnd() * 2 * amount, y + rnd() * 2 * amount];
}

/** The face as a picture moved by zoom z, shift (dx, dy), rotation r (rad) and a perspective tilt. */
export function picture(points: readonly Pt[], z: number, dx: number, dy: number, r: number, tilt: number): Pt[] {
  const cx = 217;
  const cy = 330;
  return points.map(([x, y]) => {
    const u = x - cx;
    const v = y - cy;
    const w = 1 + tilt * u;
    const ru = (Math.cos(r) * u - Math.sin(r) * v) / w;
    const rv = (Math.sin(r) * u + Math.cos(r) * v) / w;
    return [cx + dx + z * ru, cy + dy + z * rv];
  });
}

/** Eyelids closed by `amount` (0 open, 1 shut): upper lid points move down towards the lower lid. */
export function blink(points: readonly Pt[], amount: number): Pt[] {
  const out = points.map((p) => [p[0], p[1]] as [number, number]);
  for (const [up, low] of [[37, 41], [38, 40], [43, 47], [44, 46]]) {
    const d = out[low][1] - out[up][1];
    out[up][1] += (d * amount) / 2;
    out[low][1] -= (d * amount) / 2;
  }
  return out;
}

/** Mouth opened by `px` pixels (talking): lower lip points move down. */
export function openMouth(points: readonly Pt[], px: number): Pt[] {
  return points.map(([x, y], i) => ([55, 56, 57, 58, 59, 65, 66, 67].includes(i) ? [x, y + px] : [x, y]) as Pt);
}

/** The 5 points of a 68-point set (eyes, nose tip, mouth corners), as the engine reduces them. */
export function five(p: readonly Pt[]): Pt[] {
  const mean = (idx: number[]): Pt => [idx.reduce((s, i) => s + p[i][0], 0) / idx.length, idx.reduce((s, i) => s + p[i][1], 0) / idx.length];
  return [mean([37, 38, 40, 41]), mean([43, 44, 46, 47]), p[30], mean([48, 60]), mean([54, 64])];
}

/** A head turned by `amount` (interocular fractions): the nose and the near points move sideways more than the contour. */
export function turn(points: readonly Pt[], amount: number): Pt[] {
  const iod = 117;
  return points.map(([x, y], i) => {
    const depth = i >= 27 && i <= 35 ? 1 : i >= 48 ? 0.6 : i >= 36 ? 0.4 : i <= 16 ? 0 : 0.5;
    return [x + amount * iod * depth, y] as Pt;
  });
}
