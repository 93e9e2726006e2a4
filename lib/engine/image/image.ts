/**
 * Image decoding with sharp: bytes or base64 in, 8-bit RGB out. Size and pixel limits are checked
 * on the header before any pixel is decoded, so a 30000x30000 PNG is refused without allocating it.
 */
import sharp from "sharp";
import { FaceError, type ImageInput } from "../../core/mod.ts";
import { stageEnd, stageStart } from "../profile.ts";
import { decodePlainJpeg, plainJpeg } from "./jpeg-plain.ts";
import { readImageHeader } from "./sniff.ts";
import type { DecodedImage, ImageSource } from "../types.ts";

export interface ImageLimits {
  /** Encoded size limit in bytes. */
  maxBytes: number;
  /** Width x height of the original, checked before decoding. */
  maxPixels: number;
  /** Longest side of the original, checked before decoding. */
  maxDimension: number;
  /** Images whose longest side exceeds this are downscaled to it (detection needs no more). */
  downscaleTo: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = {
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 50_000_000,
  maxDimension: 12_000,
  downscaleTo: 1920,
};

/**
 * libvips loaders reachable through sharp, process-wide: JPEG, PNG and WebP only (from memory and,
 * for local tools, from files). The header sniffing above already refuses other formats; this keeps
 * the other loaders (SVG, TIFF, HEIF, GIF, PDF, ...) unreachable even if a check were missed.
 */
export const ALLOWED_LOADERS = [
  "VipsForeignLoadJpegBuffer",
  "VipsForeignLoadPngBuffer",
  "VipsForeignLoadWebpBuffer",
  "VipsForeignLoadJpegFile",
  "VipsForeignLoadPngFile",
  "VipsForeignLoadWebpFile",
] as const;
sharp.block({ operation: ["VipsForeignLoad"] });
sharp.unblock({ operation: [...ALLOWED_LOADERS] });

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+)?(;[a-z0-9-]+=[^;,]*)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Decodes base64 text (standard or url-safe, with or without a data-URL prefix, whitespace ignored). */
export function base64ToBytes(text: string): Uint8Array {
  const body = text.replace(DATA_URL, "").replace(/\s+/g, "");
  if (body.length === 0) throw new FaceError("INVALID_IMAGE", "image is empty");
  if (!BASE64.test(body) || body.length % 4 === 1) {
    throw new FaceError("INVALID_IMAGE", "image is not valid base64");
  }
  return new Uint8Array(Buffer.from(body.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

export function imageBytes(input: ImageInput): Uint8Array {
  if (typeof input === "string") return base64ToBytes(input);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return input;
}

export function isDecodedImage(source: ImageSource): source is DecodedImage {
  return typeof source === "object" && source !== null && "data" in source && "width" in source && "channels" in source;
}

export async function decodeImage(input: ImageInput, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<DecodedImage> {
  const t = stageStart();
  const img = await decodeBytes(input, limits);
  stageEnd("decode", t);
  return img;
}

async function decodeBytes(input: ImageInput, limits: ImageLimits): Promise<DecodedImage> {
  const bytes = imageBytes(input);
  if (bytes.length === 0) throw new FaceError("INVALID_IMAGE", "image is empty");
  if (bytes.length > limits.maxBytes) {
    throw new FaceError("IMAGE_TOO_LARGE", `image is ${bytes.length} bytes; the limit is ${limits.maxBytes}`);
  }
  // Format, size and orientation from the header in JS: no libvips call before the format is known.
  const header = readImageHeader(bytes);
  const { width, height } = header;
  if (width * height > limits.maxPixels || Math.max(width, height) > limits.maxDimension) {
    throw new FaceError(
      "IMAGE_TOO_LARGE",
      `image is ${width}x${height}; limits are ${limits.maxPixels} pixels and ${limits.maxDimension} px per side`,
    );
  }
  const rotated = header.orientation >= 5;
  let originalWidth = rotated ? height : width;
  let originalHeight = rotated ? width : height;
  if (plainJpeg(header, bytes, limits.downscaleTo)) {
    const rgb = await decodePlainJpeg(bytes, header);
    if (rgb) return { data: rgb, width, height, channels: 3, originalWidth, originalHeight, scale: 1 };
  }
  try {
    // One libvips pipeline, only the steps this image needs (each costs a pass over the pixels).
    let pipeline = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: "truncated" });
    // Always: libvips also applies orientations the header reader does not look for (a PNG eXIf chunk).
    pipeline = pipeline.rotate();
    if (Math.max(width, height) > limits.downscaleTo) {
      // For JPEG, libvips shrinks on load (decodes at 1/2, 1/4 or 1/8 scale) before the final resize.
      pipeline = pipeline.resize({ width: limits.downscaleTo, height: limits.downscaleTo, fit: "inside", withoutEnlargement: true });
    }
    if (header.alpha) pipeline = pipeline.flatten({ background: "#ffffff" });
    const { data, info } = await pipeline.toColourspace("srgb").removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    if (info.width !== info.height && originalWidth !== originalHeight && info.width > info.height !== originalWidth > originalHeight) {
      [originalWidth, originalHeight] = [originalHeight, originalWidth];
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      channels: 3,
      originalWidth,
      originalHeight,
      scale: originalWidth / info.width,
    };
  } catch (cause) {
    throw new FaceError("INVALID_IMAGE", "image could not be decoded (truncated or corrupt)", { cause });
  }
}

/**
 * The decoded image of a copy that was downscaled `sourceScale` times from an original: its
 * coordinates map to the original's pixels (DetectOptions.sourceScale).
 */
export function fromDownscaled(img: DecodedImage, sourceScale = 1): DecodedImage {
  if (sourceScale === 1) return img;
  if (!Number.isFinite(sourceScale) || sourceScale < 1) {
    throw new FaceError("INVALID_ARGUMENT", `sourceScale must be a number >= 1, got ${sourceScale}`);
  }
  return {
    ...img,
    originalWidth: img.originalWidth * sourceScale,
    originalHeight: img.originalHeight * sourceScale,
    scale: img.scale * sourceScale,
  };
}

/** Accepts an already decoded image as it is. */
export async function toDecoded(source: ImageSource, limits?: ImageLimits): Promise<DecodedImage> {
  return isDecodedImage(source) ? source : decodeImage(source, limits);
}
