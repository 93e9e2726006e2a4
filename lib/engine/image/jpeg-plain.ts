/**
 * Plain JPEGs decoded on the calling thread. sharp decodes on a thread pool: every image is two
 * thread hand-overs, and on a busy machine each one waits for a time slice (LFW, 2 cores under load:
 * 5-7 ms median per 250x250 photo through sharp, 0.55 ms on the thread). Used for the common case
 * only: a JPEG that needs no rotation, no downscaling and no colour conversion beyond YCbCr/gray →
 * RGB, and that ends with its EOI marker (these decoders fill a truncated image with gray where sharp
 * refuses it). Everything else, and any failure here, goes to sharp, which gives the standard answer.
 *
 * The decoder: the system's libjpeg-turbo through bun:ffi when it loads (jpeg-turbo.ts), else MozJPEG
 * in WebAssembly (jpeg-wasm.ts). Both give the same pixels.
 */
import { decodeJpegTurbo, turboAvailable } from "./jpeg-turbo.ts";
import { decodeJpegRgb } from "./jpeg-wasm.ts";
import type { ImageHeader } from "./sniff.ts";

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

/** Whether this image is decoded on the calling thread (see the module comment). */
export function plainJpeg(h: ImageHeader, bytes: Uint8Array, downscaleTo: number): boolean {
  return (
    h.format === "jpeg" &&
    h.orientation === 1 &&
    (h.components === 3 || h.components === 1) &&
    Math.max(h.width, h.height) <= downscaleTo &&
    endsWithEoi(bytes) &&
    scanCount(bytes, MAX_SCANS) <= MAX_SCANS
  );
}


/** Packed 8-bit RGB, or undefined when the image should go to sharp (decoder unavailable or failed). */
export async function decodePlainJpeg(bytes: Uint8Array, h: ImageHeader): Promise<Uint8Array | undefined> {
  return (await turboAvailable()) ? decodeJpegTurbo(bytes, h) : decodeJpegRgb(bytes, h);
}
