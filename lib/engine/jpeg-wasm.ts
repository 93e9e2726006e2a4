/**
 * JPEG decoding on the calling thread (libjpeg-turbo/MozJPEG compiled to WebAssembly, @jsquash/jpeg).
 * sharp decodes on a thread pool: every image is two thread hand-overs, and on a busy machine each
 * one waits for a time slice (LFW, 2 cores under load: 5-7 ms median per 250x250 photo through sharp,
 * 0.55 ms here; idle, both ~0.5 ms). Used for the common case only: a JPEG that needs no rotation,
 * no downscaling and no colour conversion beyond YCbCr/gray → RGB, and that ends with its EOI marker
 * (this decoder fills a truncated image with gray where sharp refuses it). Everything else, and any
 * failure here, goes to sharp, which gives the standard answer.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import decode, { init } from "@jsquash/jpeg/decode.js";
import type { ImageHeader } from "./sniff.ts";

let ready: Promise<boolean> | undefined;

/** Compiles the decoder once per thread; false (and sharp is used) if it cannot load. */
function load(): Promise<boolean> {
  ready ??= (async () => {
    try {
      const path = createRequire(import.meta.url).resolve("@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm");
      const wasm = await WebAssembly.compile(readFileSync(path));
      // libjpeg's warnings ("Premature end of JPEG file") would go to stderr for every odd image.
      // init(module, emscriptenOverrides): the second argument is in the JS, not in the .d.ts.
      await (init as (m: WebAssembly.Module, o: object) => Promise<void>)(wasm, { print: () => {}, printErr: () => {} });
      return true;
    } catch (error) {
      console.warn(`facegate engine: WebAssembly JPEG decoder unavailable, using sharp only (${error instanceof Error ? error.message : String(error)})`);
      return false;
    }
  })();
  return ready;
}

/** Whether the bytes end with the EOI marker (trailing zero padding allowed, as some cameras write). */
function endsWithEoi(b: Uint8Array): boolean {
  let i = b.length - 1;
  while (i > 1 && b[i] === 0 && b.length - i < 64) i--;
  return b[i - 1] === 0xff && b[i] === 0xd9;
}

/**
 * A progressive JPEG is decoded once per scan; a crafted one with thousands of tiny scans is a
 * decompression bomb. Typical files have 1 (baseline) to ~12 scans; more than this goes to sharp.
 */
const MAX_SCANS = 64;

/** Start-of-scan markers (0xFFDA; entropy-coded 0xFF bytes are stuffed as 0xFF00, so this counts scans). */
function scanCount(b: Uint8Array, stopAt: number): number {
  let n = 0;
  for (let i = b.indexOf(0xff); i >= 0 && i < b.length - 1; i = b.indexOf(0xff, i + 1)) {
    if (b[i + 1] === 0xda && ++n > stopAt) break;
  }
  return n;
}

/** Whether this image takes the WebAssembly path (see the module comment). */
export function wasmDecodable(h: ImageHeader, bytes: Uint8Array, downscaleTo: number): boolean {
  return (
    h.format === "jpeg" &&
    h.orientation === 1 &&
    (h.components === 3 || h.components === 1) &&
    Math.max(h.width, h.height) <= downscaleTo &&
    endsWithEoi(bytes) &&
    scanCount(bytes, MAX_SCANS) <= MAX_SCANS
  );
}

/** Packed 8-bit RGB, or undefined when the decoder is unavailable or fails (then sharp decides). */
export async function decodeJpegRgb(bytes: Uint8Array, h: ImageHeader): Promise<Uint8Array | undefined> {
  if (!(await load())) return undefined;
  let rgba: Uint8ClampedArray;
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const img = await decode(buffer);
    if (img.width !== h.width || img.height !== h.height) return undefined;
    rgba = img.data;
  } catch {
    return undefined;
  }
  return rgbaToRgb(rgba, h.width * h.height);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Drops the alpha bytes; on little-endian machines 4 pixels at a time as 32-bit words (2x faster). */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  let i = 0;
  if (LITTLE_ENDIAN && rgba.byteOffset % 4 === 0) {
    const src = new Uint32Array(rgba.buffer, rgba.byteOffset, n);
    const dst = new Uint32Array(rgb.buffer, 0, Math.floor((n * 3) / 4));
    for (let o = 0; i + 4 <= n; i += 4, o += 3) {
      const p0 = src[i];
      const p1 = src[i + 1];
      const p2 = src[i + 2];
      const p3 = src[i + 3];
      dst[o] = (p0 & 0xffffff) | (p1 << 24);
      dst[o + 1] = ((p1 >>> 8) & 0xffff) | (p2 << 16);
      dst[o + 2] = ((p2 >>> 16) & 0xff) | (p3 << 8);
    }
  }
  for (; i < n; i++) {
    rgb[i * 3] = rgba[i * 4];
    rgb[i * 3 + 1] = rgba[i * 4 + 1];
    rgb[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return rgb;
}
