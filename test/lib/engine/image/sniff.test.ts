import { describe, expect, test } from "bun:test";
import sharp from "sharp";
import { FaceError } from "../../../../lib/core/mod.ts";
import { decodeImage } from "../../../../lib/engine/mod.ts";
import { readImageHeader, sniffFormat } from "../../../../lib/engine/image/sniff.ts";
import { faceApiSample } from "../../../helpers/datasets.ts";
import { errorOf } from "../../../helpers/errors.ts";

const blank = () => sharp({ create: { width: 16, height: 8, channels: 3, background: "#808080" } });
const SVG = Buffer.from(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"><rect width="9000" height="9000"/></svg>`);

describe("image format sniffing (before any libvips call)", () => {
  test("JPEG, PNG and WebP headers give the stored size and orientation", async () => {
    for (const [format, bytes] of [
      ["jpeg", await blank().jpeg().toBuffer()],
      ["png", await blank().png().toBuffer()],
      ["webp", await blank().webp().toBuffer()],
      ["webp", await blank().webp({ lossless: true }).toBuffer()],
      ["webp", await blank().ensureAlpha(0.5).webp().toBuffer()],
    ] as const) {
      const h = readImageHeader(new Uint8Array(bytes));
      expect([h.format, h.width, h.height, h.orientation]).toEqual([format, 16, 8, 1]);
    }
    const rotated = await blank().withMetadata({ orientation: 6 }).jpeg().toBuffer();
    expect(readImageHeader(new Uint8Array(rotated)).orientation).toBe(6);
    const photo = faceApiSample(1);
    const meta = await sharp(photo).metadata();
    const h = readImageHeader(photo);
    expect([h.width, h.height, h.orientation]).toEqual([meta.width!, meta.height!, meta.orientation ?? 1]);
  });

  test("SVG, TIFF, HEIF/AVIF, GIF, BMP and PDF are refused as INVALID_IMAGE naming the format", async () => {
    const samples: [string, Uint8Array][] = [
      ["SVG/XML", new Uint8Array(SVG)],
      ["SVG/XML", new Uint8Array(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg"/>`))],
      ["TIFF", new Uint8Array(await blank().tiff().toBuffer())],
      ["GIF", new Uint8Array(await blank().gif().toBuffer())],
      ["HEIF/AVIF", new Uint8Array(await blank().avif().toBuffer())],
      ["BMP", new Uint8Array(Buffer.concat([Buffer.from("BM"), Buffer.alloc(60)]))],
      ["PDF", new Uint8Array(Buffer.from("%PDF-1.4\n1 0 obj\n"))],
    ];
    for (const [name, bytes] of samples) {
      expect(() => sniffFormat(bytes)).toThrow(name);
      const e = await errorOf(decodeImage(bytes));
      expect(e.code).toBe("INVALID_IMAGE");
      // Our message, not libvips's: the bytes never reached a loader.
      expect(e.message).toBe(`unsupported image format ${name}; use JPEG, PNG or WebP`);
      expect(e.details).toEqual({ format: name });
    }
  });

  test("libvips itself only has the JPEG, PNG and WebP loaders once the engine is loaded", async () => {
    for (const bytes of [SVG, await blank().tiff().toBuffer(), await blank().gif().toBuffer(), await blank().avif().toBuffer()]) {
      expect(sharp(bytes).metadata()).rejects.toThrow(/unsupported image format/);
    }
    for (const bytes of [await blank().jpeg().toBuffer(), await blank().png().toBuffer(), await blank().webp().toBuffer()]) {
      expect((await sharp(bytes).metadata()).width).toBe(16);
    }
  });

  test("every truncated or bit-flipped header is INVALID_IMAGE (or decodes), never another error", async () => {
    const sources = [faceApiSample(1).subarray(0, 4096), new Uint8Array(await blank().png().toBuffer()), new Uint8Array(await blank().webp().toBuffer())];
    let refused = 0;
    for (const src of sources) {
      // A PNG cut inside its final IEND chunk still has all its pixels (libpng accepts it).
      const complete = src[1] === 0x50 ? src.length - 12 : src.length;
      for (let n = 0; n < Math.min(complete, 400); n++) {
        const e = await errorOf(decodeImage(src.subarray(0, n)));
        expect(e.code).toBe("INVALID_IMAGE");
        refused++;
      }
      let seed = 7;
      for (let i = 0; i < 150; i++) {
        const b = new Uint8Array(src);
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        b[seed % Math.min(b.length, 300)] ^= 1 << (seed % 8);
        try {
          await decodeImage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(FaceError);
          expect(["INVALID_IMAGE", "IMAGE_TOO_LARGE"]).toContain((e as FaceError).code);
        }
      }
    }
    expect(refused).toBeGreaterThan(500);
  });

  test("a header claiming a huge size is IMAGE_TOO_LARGE before decoding (JPEG and WebP)", async () => {
    const jpeg = new Uint8Array(await blank().jpeg().toBuffer());
    // Patch the SOF0 height/width to 60000 x 60000.
    for (let o = 2; o < jpeg.length; ) {
      const marker = jpeg[o + 1];
      const len = (jpeg[o + 2] << 8) | jpeg[o + 3];
      if (marker === 0xc0) {
        jpeg.set([0xea, 0x60, 0xea, 0x60], o + 5);
        break;
      }
      o += 2 + len;
    }
    expect((await errorOf(decodeImage(jpeg))).code).toBe("IMAGE_TOO_LARGE");
    const webp = new Uint8Array(await blank().webp({ lossless: true }).toBuffer());
    // VP8L: 14-bit width-1 and height-1 after the 0x2f signature byte; all ones = 16384 x 16384.
    const at = 12 + 8;
    webp.set([0x2f, 0xff, 0xff, 0xff, 0x0f], at);
    expect((await errorOf(decodeImage(webp))).code).toBe("IMAGE_TOO_LARGE");
  });
});
