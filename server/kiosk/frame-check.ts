/**
 * The cheap checks a kiosk frame passes before it may reach the engine: size, image format by
 * magic bytes (JPEG, PNG, WebP: the formats the engine decodes) and, for JPEG, that the frame is
 * complete. Each failure is the `error` the client gets (the session stays open).
 */
import type { ErrorCode } from "../../lib/core/mod.ts";

export type FrameFormat = "jpeg" | "png" | "webp";

export interface FrameProblem {
  code: Extract<ErrorCode, "IMAGE_TOO_LARGE" | "INVALID_IMAGE">;
  message: string;
}

/** JPEG (FF D8 FF), PNG (89 50 4E 47), WebP (RIFF....WEBP). */
export function sniffImage(b: Uint8Array): FrameFormat | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return "webp";
  return null;
}

/** A complete JPEG ends with the EOI marker (FF D9), possibly followed by a little padding. */
export function jpegComplete(b: Uint8Array): boolean {
  for (let i = b.length - 2; i >= Math.max(2, b.length - 64); i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  }
  return false;
}

/** null when the frame may go to recognition; otherwise the error to send. */
export function checkFrame(bytes: Uint8Array, maxFrameBytes: number): FrameProblem | null {
  if (bytes.byteLength > maxFrameBytes) {
    return { code: "IMAGE_TOO_LARGE", message: `frame is ${bytes.byteLength} bytes; the limit is ${maxFrameBytes}` };
  }
  const kind = sniffImage(bytes);
  if (kind === null) return { code: "INVALID_IMAGE", message: "frame is not a JPEG, PNG or WebP image" };
  if (kind === "jpeg" && !jpegComplete(bytes)) {
    return { code: "INVALID_IMAGE", message: "frame is a truncated JPEG (no end-of-image marker)" };
  }
  return null;
}
