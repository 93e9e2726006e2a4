/**
 * Image decoding with sharp: bytes or base64 in, 8-bit RGB out. Size and pixel limits are checked
 * on the header before any pixel is decoded, so a 30000x30000 PNG is refused without allocating it.
 */
import sharp, { type Metadata } from "sharp";
import { FaceError, type ImageInput } from "../core/mod.ts";
import type { DecodedImage, ImageSource } from "./types.ts";

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
  const bytes = imageBytes(input);
  if (bytes.length === 0) throw new FaceError("INVALID_IMAGE", "image is empty");
  if (bytes.length > limits.maxBytes) {
    throw new FaceError("IMAGE_TOO_LARGE", `image is ${bytes.length} bytes; the limit is ${limits.maxBytes}`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    throw new FaceError("INVALID_IMAGE", "image could not be read (not a JPEG, PNG or WebP, or corrupt)", { cause });
  }
  const { width, height, format } = meta;
  if (!width || !height) throw new FaceError("INVALID_IMAGE", "image has no dimensions");
  if (format !== "jpeg" && format !== "png" && format !== "webp") {
    throw new FaceError("INVALID_IMAGE", `unsupported image format ${format ?? "unknown"}; use JPEG, PNG or WebP`);
  }
  if (width * height > limits.maxPixels || Math.max(width, height) > limits.maxDimension) {
    throw new FaceError(
      "IMAGE_TOO_LARGE",
      `image is ${width}x${height}; limits are ${limits.maxPixels} pixels and ${limits.maxDimension} px per side`,
    );
  }
  const rotated = (meta.orientation ?? 1) >= 5;
  const originalWidth = rotated ? height : width;
  const originalHeight = rotated ? width : height;
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: "truncated" })
      .rotate()
      .resize({ width: limits.downscaleTo, height: limits.downscaleTo, fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
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

/** Accepts an already decoded image as it is. */
export async function toDecoded(source: ImageSource, limits?: ImageLimits): Promise<DecodedImage> {
  return isDecodedImage(source) ? source : decodeImage(source, limits);
}
