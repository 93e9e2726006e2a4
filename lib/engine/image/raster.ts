/**
 * Typed-array pixel kernels that write model input tensors directly (no intermediate images).
 * Source images are packed 8-bit RGB (DecodedImage). Coordinates follow OpenCV's convention:
 * pixel (i, j) has its centre at (i, j).
 */
import type { DecodedImage } from "../types.ts";

/** Per-channel normalisation: value = (x - mean) / std. */
export interface Normalisation {
  mean: number;
  std: number;
}

/**
 * Resizes the whole image to `outW x outH` (aspect not kept, as the detector was trained) into a
 * planar RGB float tensor. Downscaling by more than 2x averages a small grid of samples per
 * output pixel so large photos do not alias.
 */
export function resizeToPlanarRGB(
  img: DecodedImage,
  outW: number,
  outH: number,
  norm: Normalisation,
  out: Float32Array = new Float32Array(3 * outW * outH),
): Float32Array {
  const { data, width: W, height: H } = img;
  const sx = W / outW;
  const sy = H / outH;
  const plane = outW * outH;
  const inv = 1 / norm.std;
  // Supersampling factor per axis (1 = plain bilinear).
  const kx = Math.max(1, Math.min(4, Math.floor(sx / 2) + 1));
  const ky = Math.max(1, Math.min(4, Math.floor(sy / 2) + 1));
  const nS = kx * ky;
  // Taps per output column / row, computed once (centre-aligned mapping, as cv.resize INTER_LINEAR).
  const taps = (n: number, k: number, scale: number, size: number) => {
    const i0 = new Int32Array(n * k);
    const i1 = new Int32Array(n * k);
    const w = new Float32Array(n * k);
    for (let o = 0; o < n; o++) {
      for (let j = 0; j < k; j++) {
        let f = (o + (j + 0.5) / k) * scale - 0.5;
        if (f < 0) f = 0;
        else if (f > size - 1) f = size - 1;
        const a = f | 0;
        i0[o * k + j] = a;
        i1[o * k + j] = a + 1 < size ? a + 1 : a;
        w[o * k + j] = f - a;
      }
    }
    return { i0, i1, w };
  };
  const tx = taps(outW, kx, sx, W);
  const ty = taps(outH, ky, sy, H);
  const scale = inv / nS;
  const bias = norm.mean * inv;
  if (nS === 1) {
    bilinearPlanar(data, W, tx, ty, outW, outH, inv, bias, out);
    return out;
  }
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ky; j++) {
        const row0 = ty.i0[y * ky + j] * W;
        const row1 = ty.i1[y * ky + j] * W;
        const wy = ty.w[y * ky + j];
        for (let i = 0; i < kx; i++) {
          const c0 = tx.i0[x * kx + i];
          const c1 = tx.i1[x * kx + i];
          const wx = tx.w[x * kx + i];
          const p00 = (row0 + c0) * 3;
          const p01 = (row0 + c1) * 3;
          const p10 = (row1 + c0) * 3;
          const p11 = (row1 + c1) * 3;
          const w00 = (1 - wx) * (1 - wy);
          const w01 = wx * (1 - wy);
          const w10 = (1 - wx) * wy;
          const w11 = wx * wy;
          r += data[p00] * w00 + data[p01] * w01 + data[p10] * w10 + data[p11] * w11;
          g += data[p00 + 1] * w00 + data[p01 + 1] * w01 + data[p10 + 1] * w10 + data[p11 + 1] * w11;
          b += data[p00 + 2] * w00 + data[p01 + 2] * w01 + data[p10 + 2] * w10 + data[p11 + 2] * w11;
        }
      }
      const o = y * outW + x;
      out[o] = r * scale - bias;
      out[o + plane] = g * scale - bias;
      out[o + 2 * plane] = b * scale - bias;
    }
  }
  return out;
}

/**
 * The one-sample case of `resizeToPlanarRGB` (upscaling or shrinking up to 2x: every LFW photo and
 * kiosk frame): lerp along x on both rows, then along y; byte offsets precomputed per column.
 */
function bilinearPlanar(
  data: Uint8Array,
  W: number,
  tx: { i0: Int32Array; i1: Int32Array; w: Float32Array },
  ty: { i0: Int32Array; i1: Int32Array; w: Float32Array },
  outW: number,
  outH: number,
  inv: number,
  bias: number,
  out: Float32Array,
): void {
  const plane = outW * outH;
  const c0 = new Int32Array(outW);
  const c1 = new Int32Array(outW);
  for (let x = 0; x < outW; x++) {
    c0[x] = tx.i0[x] * 3;
    c1[x] = tx.i1[x] * 3;
  }
  const wxs = tx.w;
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y] * W * 3;
    const r1 = ty.i1[y] * W * 3;
    const wy = ty.w[y];
    let o = y * outW;
    for (let x = 0; x < outW; x++, o++) {
      const wx = wxs[x];
      const a = r0 + c0[x];
      const b = r0 + c1[x];
      const c = r1 + c0[x];
      const d = r1 + c1[x];
      let t = data[a] + (data[b] - data[a]) * wx;
      let u = data[c] + (data[d] - data[c]) * wx;
      out[o] = (t + (u - t) * wy) * inv - bias;
      t = data[a + 1] + (data[b + 1] - data[a + 1]) * wx;
      u = data[c + 1] + (data[d + 1] - data[c + 1]) * wx;
      out[o + plane] = (t + (u - t) * wy) * inv - bias;
      t = data[a + 2] + (data[b + 2] - data[a + 2]) * wx;
      u = data[c + 2] + (data[d + 2] - data[c + 2]) * wx;
      out[o + 2 * plane] = (t + (u - t) * wy) * inv - bias;
    }
  }
}

/** An axis-aligned rectangle in decoded-image pixels. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Crops `rect` and resizes it to `size x size` gray (BT.601 luma), scaled by `1/divisor`.
 * Samples outside the image repeat the border.
 */
export function cropGray(img: DecodedImage, rect: Rect, size: number, divisor: number, out = new Float32Array(size * size)): Float32Array {
  const { data, width: W, height: H } = img;
  const sx = rect.w / size;
  const sy = rect.h / size;
  const inv = 1 / divisor;
  for (let y = 0; y < size; y++) {
    let fy = rect.y + (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    else if (fy > H - 1) fy = H - 1;
    const y0 = fy | 0;
    const y1 = y0 + 1 < H ? y0 + 1 : y0;
    const wy = fy - y0;
    for (let x = 0; x < size; x++) {
      let fx = rect.x + (x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      else if (fx > W - 1) fx = W - 1;
      const x0 = fx | 0;
      const x1 = x0 + 1 < W ? x0 + 1 : x0;
      const wx = fx - x0;
      const p00 = (y0 * W + x0) * 3;
      const p01 = (y0 * W + x1) * 3;
      const p10 = (y1 * W + x0) * 3;
      const p11 = (y1 * W + x1) * 3;
      const l00 = 0.299 * data[p00] + 0.587 * data[p00 + 1] + 0.114 * data[p00 + 2];
      const l01 = 0.299 * data[p01] + 0.587 * data[p01 + 1] + 0.114 * data[p01 + 2];
      const l10 = 0.299 * data[p10] + 0.587 * data[p10 + 1] + 0.114 * data[p10 + 2];
      const l11 = 0.299 * data[p11] + 0.587 * data[p11 + 1] + 0.114 * data[p11 + 2];
      const top = l00 + (l01 - l00) * wx;
      const bottom = l10 + (l11 - l10) * wx;
      out[y * size + x] = (top + (bottom - top) * wy) * inv;
    }
  }
  return out;
}

/**
 * A 2x3 affine map from destination to source pixels: src = [a b c; d e f] * [x y 1].
 * Warps into a planar RGB float tensor; pixels mapped outside the image are 0 before normalisation
 * (cv.warpAffine's constant border).
 */
export function warpToPlanarRGB(
  img: DecodedImage,
  inverse: readonly [number, number, number, number, number, number],
  outW: number,
  outH: number,
  norm: Normalisation,
  out: Float32Array = new Float32Array(3 * outW * outH),
): Float32Array {
  const { data, width: W, height: H } = img;
  const [a, b, c, d, e, f] = inverse;
  const plane = outW * outH;
  const inv = 1 / norm.std;
  const m = norm.mean;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const fx = a * x + b * y + c;
      const fy = d * x + e * y + f;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const wx = fx - x0;
      const wy = fy - y0;
      let r = 0;
      let g = 0;
      let bl = 0;
      // Four taps; a tap outside the image contributes the border value 0.
      if (y0 >= 0 && y0 < H) {
        if (x0 >= 0 && x0 < W) {
          const p = (y0 * W + x0) * 3;
          const w = (1 - wx) * (1 - wy);
          r += data[p] * w;
          g += data[p + 1] * w;
          bl += data[p + 2] * w;
        }
        if (x0 + 1 >= 0 && x0 + 1 < W) {
          const p = (y0 * W + x0 + 1) * 3;
          const w = wx * (1 - wy);
          r += data[p] * w;
          g += data[p + 1] * w;
          bl += data[p + 2] * w;
        }
      }
      if (y0 + 1 >= 0 && y0 + 1 < H) {
        if (x0 >= 0 && x0 < W) {
          const p = ((y0 + 1) * W + x0) * 3;
          const w = (1 - wx) * wy;
          r += data[p] * w;
          g += data[p + 1] * w;
          bl += data[p + 2] * w;
        }
        if (x0 + 1 >= 0 && x0 + 1 < W) {
          const p = ((y0 + 1) * W + x0 + 1) * 3;
          const w = wx * wy;
          r += data[p] * w;
          g += data[p + 1] * w;
          bl += data[p + 2] * w;
        }
      }
      const o = y * outW + x;
      out[o] = (r - m) * inv;
      out[o + plane] = (g - m) * inv;
      out[o + 2 * plane] = (bl - m) * inv;
    }
  }
  return out;
}

/** Resizes keeping the aspect ratio into the top-left of an `outW x outH` tensor (SCRFD input); the rest is padding 0. */
export function letterboxToPlanarRGB(
  img: DecodedImage,
  outW: number,
  outH: number,
  norm: Normalisation,
): { tensor: Float32Array; scale: number } {
  const scale = Math.min(outW / img.width, outH / img.height);
  const inverse = [1 / scale, 0, 0, 0, 1 / scale, 0] as const;
  // Sample at centre-aligned positions: src = (dst + 0.5) / scale - 0.5.
  const off = 0.5 / scale - 0.5;
  const tensor = warpToPlanarRGB(img, [inverse[0], 0, off, 0, inverse[4], off], outW, outH, norm);
  return { tensor, scale };
}

/** The image with `pad` pixels of replicated border on every side (for re-detecting tight crops). */
export function padReplicate(img: DecodedImage, pad: number): DecodedImage {
  const { data, width: W, height: H } = img;
  const w = W + 2 * pad;
  const h = H + 2 * pad;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(H - 1, Math.max(0, y - pad));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(W - 1, Math.max(0, x - pad));
      const s = (sy * W + sx) * 3;
      const o = (y * w + x) * 3;
      out[o] = data[s];
      out[o + 1] = data[s + 1];
      out[o + 2] = data[s + 2];
    }
  }
  return { data: out, width: w, height: h, channels: 3, originalWidth: w * img.scale, originalHeight: h * img.scale, scale: img.scale };
}

/**
 * Reusable tensor buffers of one size. A fresh 0.9 MB detector input per photo cost ~0.25 ms of CPU
 * (zeroing and garbage collection), more than the resize kernel's own work. Calls may interleave
 * (ORT's `run()` resolves after a `setImmediate`), so each call takes its own buffer and gives it back.
 * Every kernel here writes every element, so a reused buffer needs no clearing.
 */
export class TensorPool {
  private readonly free: Float32Array<ArrayBuffer>[] = [];
  constructor(readonly length: number) {}
  take(): Float32Array<ArrayBuffer> {
    return this.free.pop() ?? new Float32Array(this.length);
  }
  give(buffer: Float32Array<ArrayBuffer>): void {
    if (this.free.length < 4) this.free.push(buffer);
  }
}
