/**
 * JPEG decoding on the calling thread in WebAssembly (MozJPEG, @jsquash/jpeg): the portable fallback
 * of jpeg-plain.ts when the native libjpeg-turbo (jpeg-turbo.ts) is not loaded (under Node, or
 * without the system library). Same pixels, ~3x slower than the native build.
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
