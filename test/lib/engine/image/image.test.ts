import { describe, expect, setDefaultTimeout, test } from "bun:test";
import sharp from "sharp";
import { decodeImage, DEFAULT_IMAGE_LIMITS } from "../../../../lib/engine/mod.ts";
import { describeWithTools } from "../../../helpers/tools.ts";
import { describeDatasets, faceApiSample, listDataset, readDataset } from "../../../helpers/datasets.ts";
import { codeOf } from "../../../helpers/errors.ts";

setDefaultTimeout(60_000);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A small real PNG whose IHDR claims width x height (CRC fixed, so only the size is a lie). */
async function pngClaiming(width: number, height: number): Promise<Uint8Array> {
  const png = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } }).png().toBuffer());
  const view = new DataView(png.buffer, png.byteOffset);
  // signature (8) | length (4) | "IHDR" (4) | width (4) | height (4) | ... (5) | crc (4)
  expect(new TextDecoder().decode(png.subarray(12, 16))).toBe("IHDR");
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29)));
  return png;
}

describe("decodeImage: formats and encodings (face-api samples, always present)", () => {
  const jpeg = faceApiSample(1);

  test("JPEG bytes → 8-bit RGB with the original size", async () => {
    const meta = await sharp(jpeg).metadata();
    const img = await decodeImage(jpeg);
    expect(img.channels).toBe(3);
    expect(img.data.length).toBe(img.width * img.height * 3);
    expect(img.originalWidth).toBe(meta.width!);
    expect(img.originalHeight).toBe(meta.height!);
    expect(Math.max(img.width, img.height)).toBeLessThanOrEqual(DEFAULT_IMAGE_LIMITS.downscaleTo);
    expect(img.scale).toBeCloseTo(img.originalWidth / img.width, 6);
  });

  test("base64, url-safe base64 and a data-URL prefix decode to the same pixels", async () => {
    const b64 = Buffer.from(jpeg).toString("base64");
    const a = await decodeImage(jpeg);
    const b = await decodeImage(b64);
    const c = await decodeImage(`data:image/jpeg;base64,${b64}`);
    const d = await decodeImage(b64.replace(/\+/g, "-").replace(/\//g, "_"));
    const e = await decodeImage(jpeg.buffer.slice(jpeg.byteOffset, jpeg.byteOffset + jpeg.byteLength) as ArrayBuffer);
    for (const x of [b, c, d, e]) expect(Buffer.compare(Buffer.from(x.data), Buffer.from(a.data))).toBe(0);
  });

  test("WebP, RGBA PNG and grayscale PNG become RGB", async () => {
    const webp = new Uint8Array(await sharp(jpeg).resize(200).webp().toBuffer());
    const rgba = new Uint8Array(await sharp(jpeg).resize(200).ensureAlpha(0.5).png().toBuffer());
    const gray = new Uint8Array(await sharp(jpeg).resize(200).grayscale().png().toBuffer());
    for (const bytes of [webp, rgba, gray]) {
      const img = await decodeImage(bytes);
      expect(img.channels).toBe(3);
      expect(img.width).toBe(200);
      expect(img.data.length).toBe(img.width * img.height * 3);
    }
    const g = await decodeImage(gray);
    // gray stays gray: R = G = B
    for (let i = 0; i < g.data.length; i += 3 * 97) expect(g.data[i]).toBe(g.data[i + 1]);
  });

  test("large images are downscaled to 1920 on the longer side; scale maps back", async () => {
    const big = new Uint8Array(await sharp(jpeg).resize(3000).jpeg().toBuffer());
    const img = await decodeImage(big);
    expect(img.width).toBe(1920);
    expect(img.originalWidth).toBe(3000);
    expect(img.scale).toBeCloseTo(3000 / 1920, 3);
  });

  test("EXIF orientation is applied (portrait stored as landscape)", async () => {
    // sharp applies rotate before resize in one pipeline: resize first, separately
    const upright = await sharp(jpeg).resize(300, 200, { fit: "fill" }).toBuffer();
    const rotated = new Uint8Array(await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg().toBuffer());
    expect((await sharp(rotated).metadata()).width).toBe(200);
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const img = await decodeImage(rotated);
    expect([img.width, img.height]).toEqual([300, 200]);
    expect([img.originalWidth, img.originalHeight]).toEqual([300, 200]);
  });
});

describe("decodeImage: limits and bad input", () => {
  test("a 30000x30000 PNG header is refused before decoding", async () => {
    const png = await pngClaiming(30_000, 30_000);
    expect(png.length).toBeLessThan(1000);
    const before = process.memoryUsage().rss;
    expect(await codeOf(decodeImage(png))).toBe("IMAGE_TOO_LARGE");
    // 30000^2 x 3 bytes would be 2.7 GB; nothing near that was allocated
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  test("the pixel and side limits are configurable", async () => {
    const png = await pngClaiming(4000, 100);
    expect(await codeOf(decodeImage(png, { ...DEFAULT_IMAGE_LIMITS, maxDimension: 3000 }))).toBe("IMAGE_TOO_LARGE");
    expect(await codeOf(decodeImage(png, { ...DEFAULT_IMAGE_LIMITS, maxPixels: 100_000 }))).toBe("IMAGE_TOO_LARGE");
  });

  test("more bytes than MAX_IMAGE_BYTES is IMAGE_TOO_LARGE", async () => {
    expect(await codeOf(decodeImage(faceApiSample(2), { ...DEFAULT_IMAGE_LIMITS, maxBytes: 1000 }))).toBe("IMAGE_TOO_LARGE");
  });

  test("a truncated JPEG is INVALID_IMAGE", async () => {
    const jpeg = faceApiSample(3);
    expect(await codeOf(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2))))).toBe("INVALID_IMAGE");
  });

  test("garbage bytes, empty input, bad base64 and unsupported formats are INVALID_IMAGE", async () => {
    const garbage = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    expect(await codeOf(decodeImage(garbage))).toBe("INVALID_IMAGE");
    expect(await codeOf(decodeImage(new Uint8Array(0)))).toBe("INVALID_IMAGE");
    expect(await codeOf(decodeImage("not base64 at all!"))).toBe("INVALID_IMAGE");
    expect(await codeOf(decodeImage("data:image/png;base64,"))).toBe("INVALID_IMAGE");
    expect(await codeOf(decodeImage(Buffer.from("hello world, not an image").toString("base64")))).toBe("INVALID_IMAGE");
    const gif = new Uint8Array(await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000" } }).gif().toBuffer());
    expect(await codeOf(decodeImage(gif))).toBe("INVALID_IMAGE");
  });
});

describeDatasets("decodeImage: every file in scenes/", () => {
  const dirs = ["group", "noface", "edge_cases", "large", "aligned160"];
  for (const dir of dirs) {
    test(`scenes/${dir}`, async () => {
      const files = listDataset("scenes", dir);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const bytes = readDataset("scenes", dir, file);
        const meta = await sharp(bytes).metadata();
        const img = await decodeImage(bytes);
        const rotated = (meta.orientation ?? 1) >= 5;
        expect(img.originalWidth).toBe(rotated ? meta.height! : meta.width!);
        expect(img.data.length).toBe(img.width * img.height * 3);
        expect(Math.max(img.width, img.height)).toBeLessThanOrEqual(1920);
      }
    });
  }

  test("edge cases: RGBA / 32-bit PNG, progressive JPEG, grayscale PNG", async () => {
    const png32 = readDataset("scenes", "edge_cases", "fr_32bit.png");
    expect((await sharp(png32).metadata()).channels).toBe(4);
    expect((await decodeImage(png32)).channels).toBe(3);
    const progressive = listDataset("scenes", "group").filter((f) => f.endsWith(".jpg"));
    let found = 0;
    for (const f of progressive) {
      const bytes = readDataset("scenes", "group", f);
      if ((await sharp(bytes).metadata()).isProgressive) {
        found++;
        expect((await decodeImage(bytes)).width).toBeGreaterThan(0);
      }
    }
    expect(found).toBeGreaterThan(0);
    const gray = readDataset("labelled", "bbt", "amy", listDataset("labelled", "bbt", "amy")[0]);
    expect((await sharp(gray).metadata()).channels).toBeLessThanOrEqual(2);
    const img = await decodeImage(gray);
    expect(img.channels).toBe(3);
    expect(img.data[0]).toBe(img.data[1]);
  });

  test("scenes/large: images above 1920 px are downscaled, the original size kept", async () => {
    let downscaled = 0;
    for (const f of listDataset("scenes", "large")) {
      const img = await decodeImage(readDataset("scenes", "large", f));
      if (Math.max(img.originalWidth, img.originalHeight) > 1920) {
        downscaled++;
        expect(Math.max(img.width, img.height)).toBe(1920);
        expect(img.scale).toBeGreaterThan(1);
      }
    }
    expect(downscaled).toBeGreaterThan(0);
  });
});

/** Plain JPEGs (on-thread decodable): colour, gray, progressive and 4:2:0, from the face-api samples. */
async function plainJpegSamples(): Promise<Uint8Array[]> {
  const jpeg = async (i: Parameters<typeof faceApiSample>[0], width: number, f: (s: ReturnType<typeof sharp>) => ReturnType<typeof sharp>) =>
    new Uint8Array(await f(sharp(faceApiSample(i)).resize(width)).toBuffer());
  return [
    await jpeg(1, 400, (s) => s.jpeg({ quality: 85 })),
    await jpeg(1, 300, (s) => s.grayscale().jpeg()),
    await jpeg(2, 500, (s) => s.jpeg({ progressive: true })),
    await jpeg(3, 333, (s) => s.jpeg({ chromaSubsampling: "4:2:0" })),
  ];
}

describeWithTools(["libturbojpeg"], "decodeImage: plain JPEGs on the calling thread with the system's libjpeg-turbo", () => {
  test("the system's libjpeg-turbo is loaded here (CI installs libturbojpeg0)", async () => {
    const { turboAvailable } = await import("../../../../lib/engine/image/jpeg-turbo.ts");
    expect(await turboAvailable()).toBe(true);
  });

  test("gives exactly the WebAssembly decoder's pixels (colour, gray, progressive, 4:2:0), and decodeImage uses it", async () => {
    const { decodeJpegRgb } = await import("../../../../lib/engine/image/jpeg-wasm.ts");
    const { decodeJpegTurbo } = await import("../../../../lib/engine/image/jpeg-turbo.ts");
    const { readImageHeader } = await import("../../../../lib/engine/image/sniff.ts");
    for (const bytes of await plainJpegSamples()) {
      const h = readImageHeader(bytes);
      const turbo = await decodeJpegTurbo(bytes, h);
      expect(turbo).toBeDefined();
      expect(turbo).toEqual((await decodeJpegRgb(bytes, h))!);
      expect((await decodeImage(bytes)).data).toEqual(turbo!);
    }
  });

  test("libjpeg-turbo refuses corrupt data and a size other than the header's: sharp decides", async () => {
    const { decodeJpegTurbo } = await import("../../../../lib/engine/image/jpeg-turbo.ts");
    const { readImageHeader } = await import("../../../../lib/engine/image/sniff.ts");
    const jpeg = new Uint8Array(await sharp(faceApiSample(1)).resize(200).jpeg().toBuffer());
    const h = readImageHeader(jpeg);
    expect(await decodeJpegTurbo(jpeg, { ...h, width: h.width + 8 })).toBeUndefined();
    // Scribble over the entropy-coded data (keeping the markers): a warning, so no pixels from here.
    const corrupt = jpeg.slice();
    for (let i = Math.floor(corrupt.length / 2); i < corrupt.length - 200; i += 7) if (corrupt[i] !== 0xff && corrupt[i - 1] !== 0xff) corrupt[i] = 0xff;
    expect(await decodeJpegTurbo(corrupt, h)).toBeUndefined();
    expect(await decodeJpegTurbo(new Uint8Array(0), h)).toBeUndefined();
  });
});

describe("decodeImage: plain JPEGs on the calling thread in WebAssembly (the fallback decoder)", () => {
  test("gives sharp's pixels (MozJPEG both sides) for plain JPEGs, colour, gray, progressive and 4:2:0", async () => {
    const { decodeJpegRgb } = await import("../../../../lib/engine/image/jpeg-wasm.ts");
    const { plainJpeg } = await import("../../../../lib/engine/image/jpeg-plain.ts");
    const { readImageHeader } = await import("../../../../lib/engine/image/sniff.ts");
    for (const bytes of await plainJpegSamples()) {
      const h = readImageHeader(bytes);
      expect(plainJpeg(h, bytes, 1920)).toBe(true);
      const wasm = await decodeJpegRgb(bytes, h);
      const ref = await sharp(bytes).toColourspace("srgb").removeAlpha().raw().toBuffer();
      expect(wasm).toBeDefined();
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - wasm![i]));
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect((await decodeImage(bytes)).data.length).toBe(ref.length);
    }
  });

  test("RGBA → RGB drops alpha exactly, whatever the pixel count (4 at a time, then the rest)", async () => {
    const { rgbaToRgb } = await import("../../../../lib/engine/image/jpeg-wasm.ts");
    for (const n of [0, 1, 3, 4, 5, 7, 8, 61, 1000]) {
      const rgba = new Uint8ClampedArray(n * 4).map((_, i) => (i * 37 + 11) & 255);
      const want = new Uint8Array(n * 3).map((_, k) => rgba[Math.floor(k / 3) * 4 + (k % 3)]);
      expect(Array.from(rgbaToRgb(rgba, n))).toEqual(Array.from(want));
    }
  });

  test("truncated, EXIF-rotated and larger-than-1920 JPEGs go to sharp", async () => {
    const { plainJpeg } = await import("../../../../lib/engine/image/jpeg-plain.ts");
    const { readImageHeader } = await import("../../../../lib/engine/image/sniff.ts");
    const jpeg = faceApiSample(3);
    expect(plainJpeg(readImageHeader(jpeg), jpeg, 1920)).toBe(true);
    const cut = jpeg.subarray(0, jpeg.length - 100);
    expect(plainJpeg(readImageHeader(cut), cut, 1920)).toBe(false);
    expect(await codeOf(decodeImage(cut))).toBe("INVALID_IMAGE");
    const rotated = new Uint8Array(await sharp(jpeg).withMetadata({ orientation: 6 }).jpeg().toBuffer());
    expect(plainJpeg(readImageHeader(rotated), rotated, 1920)).toBe(false);
    const big = new Uint8Array(await sharp(jpeg).resize(2400).jpeg().toBuffer());
    expect(plainJpeg(readImageHeader(big), big, 1920)).toBe(false);
    // more than 64 scans (a progressive decompression bomb) is left to sharp
    const scans = Array.from({ length: 70 }, () => [0xff, 0xda, 0x00, 0x02]).flat();
    const bomb = new Uint8Array([...jpeg.subarray(0, jpeg.length - 2), ...scans, 0xff, 0xd9]);
    expect(plainJpeg(readImageHeader(bomb), bomb, 1920)).toBe(false);
    expect((await decodeImage(big)).width).toBe(1920);
  });
});
