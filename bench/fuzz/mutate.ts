/**
 * Malformed values: JSON values of the wrong shape, strings that break parsers, and images that
 * are truncated, bit-flipped, declare huge sizes, or carry the wrong magic bytes.
 */
import type { Rng } from "./rng.ts";

/** Base images: valid JPEG, PNG and WebP of a face photo (small, so decoding stays cheap). */
export interface BaseImages {
  jpeg: Uint8Array<ArrayBuffer>;
  png: Uint8Array<ArrayBuffer>;
  webp: Uint8Array<ArrayBuffer>;
}

const enc = new TextEncoder();

/** Other formats and impostors: what must never reach a decoder other than JPEG/PNG/WebP, or crash it. */
const FOREIGN: Array<() => Uint8Array> = [
  () => enc.encode("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"),
  () => enc.encode('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><image href="file:///etc/passwd"/></svg>'),
  () => enc.encode('<svg xmlns="http://www.w3.org/2000/svg"><script>while(1){}</script></svg>'),
  () => new Uint8Array([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0]), // TIFF with a huge IFD count
  () => new Uint8Array([0x42, 0x4d, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 24, 0]), // BMP
  () => new Uint8Array([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x68, 0x65, 0x69, 0x63, 0, 0, 0, 0, 0x6d, 0x69, 0x66, 0x31, 0x68, 0x65, 0x69, 0x63]), // HEIF ftyp
  () => enc.encode("%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"),
  () => enc.encode("P6\n99999 99999\n255\n"), // PPM declaring 10 gigapixels
  () => new Uint8Array([0xff, 0x0a, 0xfa, 0x7f, 0xff, 0xff]), // JPEG XL codestream
  () => new Uint8Array(0),
];

export function mutateImage(rng: Rng, base: BaseImages): { kind: string; bytes: Uint8Array<ArrayBuffer> } {
  const src = rng.pick([base.jpeg, base.png, base.webp]);
  const copy = () => new Uint8Array(src);
  switch (rng.int(0, 9)) {
    case 0: {
      const cut = rng.int(0, src.length - 1);
      return { kind: "truncated", bytes: src.slice(0, cut) };
    }
    case 1:
    case 2: {
      const b = copy();
      const flips = rng.int(1, 64);
      for (let i = 0; i < flips; i++) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7);
      return { kind: "bit-flipped", bytes: b };
    }
    case 3:
      return { kind: "huge-declared-size", bytes: hugeDeclared(rng, base) };
    case 4: {
      // wrong magic: one format's header on another's body
      const b = copy();
      const magic = rng.pick([[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff, 0xe0], [0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50], [0x47, 0x49, 0x46, 0x38]]);
      b.set(magic.slice(0, Math.min(magic.length, b.length)), 0);
      return { kind: "wrong-magic", bytes: b };
    }
    case 5:
      return { kind: "foreign-format", bytes: new Uint8Array(rng.pick(FOREIGN)()) };
    case 6:
      return { kind: "random-bytes", bytes: rng.bytes(rng.int(0, 4096)) };
    case 7: {
      // valid header, random body, end marker kept (only the decoder can tell)
      const b = copy();
      for (let i = 64; i < b.length - 2; i++) if (rng.chance(0.3)) b[i] = rng.int(0, 255);
      return { kind: "corrupt-body", bytes: b };
    }
    case 8: {
      // garbage appended or prepended
      const extra = rng.bytes(rng.int(1, 2048));
      const b = new Uint8Array(src.length + extra.length);
      if (rng.chance(0.5)) {
        b.set(src, 0);
        b.set(extra, src.length);
      } else {
        b.set(extra, 0);
        b.set(src, extra.length);
      }
      return { kind: "padded", bytes: b };
    }
    default:
      return { kind: "valid", bytes: copy() };
  }
}

/** Rewrites the size fields in a header to absurd values (PNG IHDR, JPEG SOFn, WebP VP8/VP8X). */
function hugeDeclared(rng: Rng, base: BaseImages): Uint8Array<ArrayBuffer> {
  const which = rng.int(0, 2);
  if (which === 0) {
    const b = new Uint8Array(base.png);
    const dv = new DataView(b.buffer);
    dv.setUint32(16, rng.pick([0x7fffffff, 0xffffffff, 65_535, 1, 0]));
    dv.setUint32(20, rng.pick([0x7fffffff, 0xffffffff, 65_535, 0]));
    return b; // CRC now wrong too
  }
  if (which === 1) {
    const b = new Uint8Array(base.jpeg);
    for (let i = 2; i < b.length - 9; i++) {
      if (b[i] === 0xff && b[i + 1]! >= 0xc0 && b[i + 1]! <= 0xc2) {
        b[i + 5] = 0xff;
        b[i + 6] = 0xff;
        b[i + 7] = 0xff;
        b[i + 8] = 0xff;
        break;
      }
    }
    return b;
  }
  const b = new Uint8Array(base.webp);
  // VP8X canvas size (24-bit fields) or the VP8 frame size
  if (b.length > 30) {
    b[24] = 0xff;
    b[25] = 0xff;
    b[26] = 0xff;
    b[27] = 0xff;
    b[28] = 0xff;
    b[29] = 0xff;
  }
  return b;
}

/** Strings that break naive parsers and id validation. */
export function nastyString(rng: Rng): string {
  switch (rng.int(0, 11)) {
    case 0:
      return "";
    case 1:
      return "A".repeat(rng.int(129, 70_000));
    case 2:
      return "../../etc/passwd";
    case 3:
      return "a\u0000b";
    case 4:
      return "\ud800"; // lone surrogate
    case 5:
      return "😀".repeat(rng.int(1, 200));
    case 6:
      return "__proto__";
    case 7:
      return "%00%2e%2e%2f";
    case 8:
      return " \t\n ";
    case 9:
      return "' OR 1=1 --";
    case 10:
      return "\u202e\u0301x";
    default:
      return String.fromCharCode(...rng.bytes(rng.int(1, 64)));
  }
}

/** A JSON value of an arbitrary, often wrong, shape. */
export function wrongValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 2 ? 8 : 11)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 0.5, 1.0000001, -0]);
    case 3:
      return nastyString(rng);
    case 4:
      return "data:image/jpeg;base64,////";
    case 5:
      return "not base64 !!!";
    case 6:
      return [];
    case 7:
      return {};
    case 8:
      return Array.from({ length: rng.int(1, 600) }, () => rng.next() * 2 - 1);
    case 9:
      return { $part: 0, nested: wrongValue(rng, depth + 1) };
    case 10:
      return [wrongValue(rng, depth + 1), wrongValue(rng, depth + 1)];
    default:
      return Object.fromEntries([["__proto__", { polluted: true }], [nastyString(rng).slice(0, 20), wrongValue(rng, depth + 1)]]);
  }
}

/** Text that is not quite JSON. */
export function brokenJson(rng: Rng, valid: string): string {
  switch (rng.int(0, 9)) {
    case 0:
      return valid.slice(0, rng.int(0, Math.max(0, valid.length - 1)));
    case 1:
      return `${valid}}`;
    case 2:
      return `\ufeff${valid}`;
    case 3:
      return "[".repeat(rng.int(1000, 200_000));
    case 4:
      return `${"{\"a\":".repeat(rng.int(500, 20_000))}1${"}".repeat(10)}`;
    case 5:
      return valid.replace(/"/g, "'");
    case 6:
      return "null";
    case 7:
      return rng.pick(["[]", "42", '"string"', "true", "1e999", "-"]);
    case 8:
      return valid.replace(/:/, ":\u0000");
    default:
      return `{"a":${"1".repeat(rng.int(400, 5000))}}`;
  }
}

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those). */
export function pct(text: string): string {
  return Array.from(Buffer.from(text, "utf8"), (b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, "0").toUpperCase()}`)).join("");
}
