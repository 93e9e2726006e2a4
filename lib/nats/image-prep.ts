/**
 * Gateway-side image preparation: send a worker no more than its engine will use.
 *
 * The engine decodes every image to at most `downscaleTo` (1920) px on the longest side before
 * detection (lib/engine/image.ts). A 4352x2903 press photo of 2.4 MB therefore carries ~5x more
 * pixels than the engine looks at, and does not fit a NATS message (default max_payload 1 MiB). So
 * the gateway reads the header (in JS: no pixel is decoded) and, when the photo is larger
 * than the working size or than the byte budget, does the engine's own resize (same EXIF rotation,
 * same sharp kernel, same output size) and re-encodes it as a high-quality JPEG. The worker's engine
 * then sees the pixels it would have produced itself (plus JPEG noise at quality 95), and `scale`
 * travels with the request (CallOptions.imageScales): the worker reports faces, and applies its
 * size limits, in the original's pixels, so results equal embedded mode's.
 *
 * Base64 text is decoded here too: images always travel as binary message parts.
 */
import sharp, { type OutputInfo } from "sharp";
import { FaceError, type ImageInput } from "../core/mod.ts";
import { base64ToBytes, DEFAULT_IMAGE_LIMITS, readImageHeader, type ImageLimits } from "../engine/mod.ts";

export interface PreparedImage {
  bytes: Uint8Array;
  /** How many times smaller the bytes sent are than the original (1 when unchanged): CallOptions.imageScales. */
  scale: number;
  /** Re-encoded here (false: the caller's bytes go as they are). */
  reencoded: boolean;
}

export interface ImagePrepOptions {
  /** The engine's limits (MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE; downscaleTo = working size). */
  limits?: ImageLimits;
  /** Largest encoded image sent as it is; larger ones are re-encoded (at most the working size). */
  byteBudget: number;
}

/**
 * JPEG settings tried in turn until the image fits the byte budget: quality 95 first (full chroma,
 * then 4:2:0), then lower. Measured on scenes/large: at 95 boxes stay within 1 px of embedded mode.
 */
const ENCODINGS = [
  { quality: 95, chromaSubsampling: "4:4:4" },
  { quality: 95, chromaSubsampling: "4:2:0" },
  { quality: 92, chromaSubsampling: "4:2:0" },
  { quality: 90, chromaSubsampling: "4:2:0" },
  { quality: 85, chromaSubsampling: "4:2:0" },
  { quality: 80, chromaSubsampling: "4:2:0" },
  { quality: 70, chromaSubsampling: "4:2:0" },
] as const;

function toBytes(input: ImageInput): Uint8Array {
  if (typeof input === "string") return base64ToBytes(input);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  return input;
}

/**
 * Bytes to publish for one image, and the coordinate scale. Errors are the engine's for the same
 * input (INVALID_IMAGE, IMAGE_TOO_LARGE with the same limits), plus IMAGE_TOO_LARGE when even the
 * smallest re-encoding exceeds the budget.
 */
export async function prepareImage(input: ImageInput, opts: ImagePrepOptions): Promise<PreparedImage> {
  const limits = opts.limits ?? DEFAULT_IMAGE_LIMITS;
  const bytes = toBytes(input);
  if (bytes.byteLength === 0) throw new FaceError("INVALID_IMAGE", "image is empty");
  if (bytes.byteLength > limits.maxBytes) {
    throw new FaceError("IMAGE_TOO_LARGE", `image is ${bytes.byteLength} bytes; the limit is ${limits.maxBytes}`);
  }
  const asIs: PreparedImage = { bytes, scale: 1, reencoded: false };
  // The engine's own header reader (JS, no libvips call): same refusals and messages as embedded
  // mode, and no thread-pool hand-over per request (a sharp metadata() call cost the gateway a
  // second core's time slice on every photo).
  const { width, height } = readImageHeader(bytes);
  if (width * height > limits.maxPixels || Math.max(width, height) > limits.maxDimension) {
    throw new FaceError(
      "IMAGE_TOO_LARGE",
      `image is ${width}x${height}; limits are ${limits.maxPixels} pixels and ${limits.maxDimension} px per side`,
    );
  }
  if (Math.max(width, height) <= limits.downscaleTo && bytes.byteLength <= opts.byteBudget) return asIs;

  let raw: { data: Buffer; info: OutputInfo };
  try {
    // The engine's decode pipeline up to the pixels (lib/engine/image.ts decodeImage).
    raw = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: "truncated" })
      .rotate()
      .resize({ width: limits.downscaleTo, height: limits.downscaleTo, fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new FaceError("INVALID_IMAGE", "image could not be decoded (truncated or corrupt)", { cause });
  }
  const { info } = raw;
  // `inside` keeps the aspect: the longest sides give the scale whatever the rotation.
  const scale = Math.max(width, height) / Math.max(info.width, info.height);
  let smallest = Infinity;
  for (const encoding of ENCODINGS) {
    const jpeg = await sharp(raw.data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      .jpeg(encoding)
      .toBuffer();
    if (jpeg.byteLength <= opts.byteBudget) {
      return { bytes: new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength), scale, reencoded: true };
    }
    smallest = Math.min(smallest, jpeg.byteLength);
  }
  throw new FaceError(
    "IMAGE_TOO_LARGE",
    `image of ${width}x${height} is ${smallest} bytes even as a ${info.width}x${info.height} JPEG of quality ` +
      `${ENCODINGS[ENCODINGS.length - 1]!.quality}; the NATS message budget for it is ${opts.byteBudget} bytes`,
  );
}
