import { describe, expect, test } from "bun:test";
import { fields, fieldString, MessageWriter, ProtobufError, WIRE } from "../../../../lib/engine/onnx/protobuf.ts";

describe("protobuf wire format", () => {
  test("fields written are read back in order, large varints and strings included", () => {
    const inner = new MessageWriter().stringField(1, "naïve").bytes();
    const bytes = new MessageWriter().varintField(1, 2 ** 40 + 3).bytesField(7, inner).varintField(2, 0).bytes();
    const read = [...fields(bytes)];
    expect(read.map((f) => [f.no, f.wire])).toEqual([
      [1, WIRE.varint],
      [7, WIRE.len],
      [2, WIRE.varint],
    ]);
    expect(read[0].value).toBe(2 ** 40 + 3);
    const [name] = fields(bytes, read[1].dataStart, read[1].dataEnd);
    expect(fieldString(bytes, name)).toBe("naïve");
    // A field's raw range copies it unchanged.
    expect(new MessageWriter().raw(bytes.subarray(read[1].start, read[1].end)).bytes()).toEqual(new MessageWriter().bytesField(7, inner).bytes());
  });

  test("malformed bytes are a ProtobufError, not a hang or a read past the end", () => {
    const good = new MessageWriter().bytesField(3, new Uint8Array(10)).bytes();
    expect(() => [...fields(good.subarray(0, good.length - 1))]).toThrow(ProtobufError);
    expect(() => [...fields(Uint8Array.of(0x80, 0x80))]).toThrow(ProtobufError);
    expect(() => [...fields(Uint8Array.of(0x0b))]).toThrow(ProtobufError); // wire type 3 (groups)
    expect(() => [...fields(Uint8Array.of(0x00, 0x01))]).toThrow(ProtobufError); // field number 0
  });
});
