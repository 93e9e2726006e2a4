/**
 * Image headers read in JS, before any libvips call: the format from its magic bytes (only JPEG,
 * PNG and WebP pass), the stored size and the EXIF orientation. So bytes in any other format never
 * reach a libvips loader, size limits are checked before decoding, and decoding is one sharp call.
 */
import { FaceError } from "../../core/mod.ts";

export type ImageFormat = "jpeg" | "png" | "webp";

export interface ImageHeader {
  format: ImageFormat;
  /** Stored size (before the EXIF orientation is applied). */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent); 5..8 swap width and height. */
  orientation: number;
  /** Whether the image may carry an alpha channel (PNG and WebP only). */
  alpha: boolean;
  /** JPEG colour components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK); 0 for the other formats. */
  components: number;
}

/** Formats recognised by their magic bytes only to name them in the refusal. */
const OTHER_FORMATS: [string, (b: Uint8Array) => boolean][] = [
  ["GIF", (b) => ascii(b, 0, 4) === "GIF8"],
  ["TIFF", (b) => (b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42)],
  ["HEIF/AVIF", (b) => ascii(b, 4, 8) === "ftyp"],
  ["BMP", (b) => ascii(b, 0, 2) === "BM"],
  ["SVG/XML", (b) => /^\s*(<\?xml|<svg|<!DOCTYPE)/i.test(ascii(b, 0, 64))],
  ["PDF", (b) => ascii(b, 0, 5) === "%PDF-"],
  ["JPEG 2000", (b) => ascii(b, 4, 12) === "jP  \r\n\x87\n" || (b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51)],
  ["JPEG XL", (b) => (b[0] === 0xff && b[1] === 0x0a) || ascii(b, 4, 8) === "JXL "],
];

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < Math.min(to, b.length); i++) s += String.fromCharCode(b[i]);
  return s;
}

const u16be = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u24le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
const u32be = (b: Uint8Array, o: number) => ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
const u32le = (b: Uint8Array, o: number) => (u16le(b, o) + u16le(b, o + 2) * 65536);

function corrupt(what: string): FaceError {
  return new FaceError("INVALID_IMAGE", `image could not be read (${what})`);
}

/** The format from the magic bytes; anything but JPEG, PNG and WebP is INVALID_IMAGE naming the format. */
export function sniffFormat(b: Uint8Array): ImageFormat {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && u32be(b, 0) === 0x89504e47 && u32be(b, 4) === 0x0d0a1a0a) return "png";
  if (b.length >= 12 && ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") return "webp";
  const other = OTHER_FORMATS.find(([, test]) => test(b))?.[0];
  throw new FaceError(
    "INVALID_IMAGE",
    other ? `unsupported image format ${other}; use JPEG, PNG or WebP` : "image is not a JPEG, PNG or WebP (unrecognised bytes)",
    { details: { format: other ?? "unknown" } },
  );
}

/** Orientation from a TIFF-structured EXIF block starting at `o` (the "II"/"MM" byte order mark). */
function exifOrientation(b: Uint8Array, o: number, end: number): number {
  if (o + 8 > end) return 1;
  const le = b[o] === 0x49 && b[o + 1] === 0x49;
  if (!le && !(b[o] === 0x4d && b[o + 1] === 0x4d)) return 1;
  const r16 = (p: number) => (le ? u16le(b, p) : u16be(b, p));
  const r32 = (p: number) => (le ? u32le(b, p) : u32be(b, p));
  const ifd = o + r32(o + 4);
  if (ifd + 2 > end) return 1;
  const n = r16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return 1;
    if (r16(e) === 0x0112) {
      const v = r16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

function jpegHeader(b: Uint8Array): ImageHeader {
  let orientation = 1;
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) throw corrupt("JPEG marker expected");
    const marker = b[o + 1];
    if (marker === 0xff) {
      o++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    const len = u16be(b, o + 2);
    if (len < 2 || o + 2 + len > b.length) throw corrupt("truncated JPEG header");
    const seg = o + 4;
    if (marker === 0xe1 && len >= 8 && ascii(b, seg, seg + 6) === "Exif\0\0" && orientation === 1) {
      orientation = exifOrientation(b, seg + 6, o + 2 + len);
    }
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (len < 8) throw corrupt("truncated JPEG frame header");
      return { format: "jpeg", height: u16be(b, seg + 1), width: u16be(b, seg + 3), orientation, alpha: false, components: b[seg + 5] };
    }
    if (marker === 0xda || marker === 0xd9) break; // scan data or end before any frame header
    o += 2 + len;
  }
  throw corrupt("JPEG without a frame header");
}

function pngHeader(b: Uint8Array): ImageHeader {
  if (b.length < 33 || ascii(b, 12, 16) !== "IHDR") throw corrupt("PNG without IHDR");
  const colourType = b[25];
  // Orientation: PNG eXIf chunks are rare and libvips applies them; read only IHDR here.
  const alpha = colourType === 4 || colourType === 6 || colourType === 3;
  return { format: "png", width: u32be(b, 16), height: u32be(b, 20), orientation: 1, alpha, components: 0 };
}

function webpHeader(b: Uint8Array): ImageHeader {
  const riffEnd = Math.min(b.length, 8 + u32le(b, 4));
  let o = 12;
  let size: { width: number; height: number; alpha: boolean } | undefined;
  let orientation = 1;
  while (o + 8 <= riffEnd) {
    const tag = ascii(b, o, o + 4);
    const len = u32le(b, o + 4);
    const d = o + 8;
    if (d + len > b.length && tag !== "VP8 " && tag !== "VP8L") throw corrupt("truncated WebP chunk");
    if (tag === "VP8X" && len >= 10) {
      size = { width: u24le(b, d + 4) + 1, height: u24le(b, d + 7) + 1, alpha: (b[d] & 0x10) !== 0 };
    } else if (tag === "VP8 " && !size) {
      if (d + 10 > b.length || b[d + 3] !== 0x9d || b[d + 4] !== 0x01 || b[d + 5] !== 0x2a) throw corrupt("bad WebP VP8 header");
      size = { width: u16le(b, d + 6) & 0x3fff, height: u16le(b, d + 8) & 0x3fff, alpha: false };
    } else if (tag === "VP8L" && !size) {
      if (d + 5 > b.length || b[d] !== 0x2f) throw corrupt("bad WebP VP8L header");
      const bits = u32le(b, d + 1);
      size = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, alpha: true };
    } else if (tag === "EXIF") {
      // Some writers keep the "Exif\0\0" prefix inside the chunk.
      const start = ascii(b, d, d + 6) === "Exif\0\0" ? d + 6 : d;
      orientation = exifOrientation(b, start, d + len);
    }
    o = d + len + (len & 1);
  }
  if (!size) throw corrupt("WebP without an image chunk");
  return { format: "webp", ...size, orientation, components: 0 };
}

/** Format, stored size and orientation from the header; INVALID_IMAGE for anything else or a broken header. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const format = sniffFormat(bytes);
  const header = format === "jpeg" ? jpegHeader(bytes) : format === "png" ? pngHeader(bytes) : webpHeader(bytes);
  if (!header.width || !header.height) throw new FaceError("INVALID_IMAGE", "image has no dimensions");
  return header;
}
