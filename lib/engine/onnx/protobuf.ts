/**
 * The few protobuf wire-format pieces the ONNX graph rewrite needs: walk a message's fields and
 * write fields back. Unknown fields are copied as their raw bytes, so a rewrite keeps everything it
 * does not touch. Numbers beyond 2^53 do not occur in the fields read here (lengths, enums, dims).
 */

export const WIRE = { varint: 0, i64: 1, len: 2, i32: 5 } as const;

/** One field of a message: its number, wire type, raw byte range and value (varint or payload range). */
export interface Field {
  no: number;
  wire: number;
  /** The whole field, key included: `bytes.subarray(start, end)` copies it unchanged. */
  start: number;
  end: number;
  /** Varint value (wire 0). */
  value: number;
  /** Payload range (wire 2). */
  dataStart: number;
  dataEnd: number;
}

export class ProtobufError extends Error {}

function readVarint(b: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new ProtobufError("truncated varint");
    const byte = b[pos++];
    value += (byte & 0x7f) * mul;
    if (byte < 0x80) return [value, pos];
    mul *= 128;
  }
  throw new ProtobufError("varint longer than 10 bytes");
}

/** The fields of the message in `b[start, end)`, in order. Throws `ProtobufError` on malformed bytes. */
export function* fields(b: Uint8Array, start = 0, end = b.length): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [key, p] = readVarint(b, pos, end);
    pos = p;
    const no = Math.floor(key / 8);
    const wire = key % 8;
    let value = 0;
    let dataStart = pos;
    let dataEnd = pos;
    if (wire === WIRE.varint) {
      [value, pos] = readVarint(b, pos, end);
    } else if (wire === WIRE.i64) {
      pos += 8;
    } else if (wire === WIRE.i32) {
      pos += 4;
    } else if (wire === WIRE.len) {
      const [len, q] = readVarint(b, pos, end);
      dataStart = q;
      dataEnd = q + len;
      pos = dataEnd;
    } else {
      throw new ProtobufError(`unsupported wire type ${wire}`);
    }
    if (pos > end || no === 0) throw new ProtobufError("field runs past the end of its message");
    yield { no, wire, start: fieldStart, end: pos, value, dataStart, dataEnd };
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

export function fieldString(b: Uint8Array, f: Field): string {
  return utf8.decode(b.subarray(f.dataStart, f.dataEnd));
}

/** Builds a message from parts; `bytes()` concatenates them once. */
export class MessageWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  raw(part: Uint8Array): this {
    this.parts.push(part);
    this.size += part.length;
    return this;
  }

  private varint(n: number): this {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return this.raw(Uint8Array.from(out));
  }

  /** A length-delimited field (sub-message, string, bytes or packed numbers). */
  bytesField(no: number, payload: Uint8Array): this {
    return this.varint(no * 8 + WIRE.len).varint(payload.length).raw(payload);
  }

  stringField(no: number, text: string): this {
    return this.bytesField(no, utf8Encoder.encode(text));
  }

  varintField(no: number, n: number): this {
    return this.varint(no * 8 + WIRE.varint).varint(n);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
