/**
 * A reader for the parts of a TensorFlow Lite model (a FlatBuffer, `tensorflow/lite/schema/schema.fbs`)
 * that the ONNX converter needs: tensors with their shapes and constant buffers, operators with their
 * builtin code, inputs, outputs and the options of the ops it converts. Every offset is bounds-checked;
 * a file that is not a TFLite model (or is truncated) is a `TfliteFormatError`, never a wrong read.
 */

export class TfliteFormatError extends Error {
  override name = "TfliteFormatError";
}

/** BuiltinOperator values (schema.fbs) of the ops the converter knows; others keep their number. */
export const OP = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  FULLY_CONNECTED: 9,
  L2_NORMALIZATION: 11,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SUB: 41,
  ABS: 101,
} as const;

export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(OP).map(([k, v]) => [v, k]));

/** TensorType values. */
export const TENSOR_TYPE = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4 } as const;

/** ActivationFunctionType values. */
export const ACTIVATION = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;

/** Padding values. */
export const PADDING = { SAME: 0, VALID: 1 } as const;

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: number;
  /** The constant's bytes (a view into the file), or undefined for an activation. */
  data?: Uint8Array;
}

export interface TfliteOperator {
  /** Builtin operator code (`OP`), or -1 for a custom op. */
  op: number;
  inputs: number[];
  outputs: number[];
  /** The builtin options table (a reader over it), when the op has one. */
  options?: Table;
}

export interface TfliteModel {
  version: number;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

/** One FlatBuffer table: typed reads of its fields by index, with the schema's defaults. */
export class Table {
  constructor(
    private readonly view: DataView,
    readonly pos: number,
  ) {}

  private fieldPos(index: number): number | undefined {
    const v = this.view;
    const vtable = this.pos - v.getInt32(this.pos, true);
    check(v, vtable, 4);
    const vtSize = v.getUint16(vtable, true);
    const slot = 4 + 2 * index;
    if (slot + 2 > vtSize) return undefined;
    check(v, vtable + slot, 2);
    const off = v.getUint16(vtable + slot, true);
    return off === 0 ? undefined : this.pos + off;
  }

  u8(index: number, dflt = 0): number {
    const p = this.fieldPos(index);
    if (p === undefined) return dflt;
    check(this.view, p, 1);
    return this.view.getUint8(p);
  }

  i32(index: number, dflt = 0): number {
    const p = this.fieldPos(index);
    if (p === undefined) return dflt;
    check(this.view, p, 4);
    return this.view.getInt32(p, true);
  }

  u32(index: number, dflt = 0): number {
    const p = this.fieldPos(index);
    if (p === undefined) return dflt;
    check(this.view, p, 4);
    return this.view.getUint32(p, true);
  }

  u64(index: number, dflt = 0): number {
    const p = this.fieldPos(index);
    if (p === undefined) return dflt;
    check(this.view, p, 8);
    const n = this.view.getBigUint64(p, true);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new TfliteFormatError("64-bit offset beyond 2^53");
    return Number(n);
  }

  /** Absolute position the offset field points at, or undefined when absent. */
  private target(index: number): number | undefined {
    const p = this.fieldPos(index);
    if (p === undefined) return undefined;
    check(this.view, p, 4);
    return p + this.view.getUint32(p, true);
  }

  table(index: number): Table | undefined {
    const t = this.target(index);
    if (t === undefined) return undefined;
    check(this.view, t, 4);
    return new Table(this.view, t);
  }

  string(index: number): string {
    const bytes = this.bytes(index);
    return bytes ? new TextDecoder().decode(bytes) : "";
  }

  /** A vector of bytes (`[ubyte]`), as a view into the file. */
  bytes(index: number): Uint8Array | undefined {
    const t = this.target(index);
    if (t === undefined) return undefined;
    const n = vectorLength(this.view, t);
    check(this.view, t + 4, n);
    return new Uint8Array(this.view.buffer, this.view.byteOffset + t + 4, n);
  }

  i32s(index: number): number[] {
    const t = this.target(index);
    if (t === undefined) return [];
    const n = vectorLength(this.view, t);
    check(this.view, t + 4, n * 4);
    return Array.from({ length: n }, (_, i) => this.view.getInt32(t + 4 + 4 * i, true));
  }

  tables(index: number): Table[] {
    const t = this.target(index);
    if (t === undefined) return [];
    const n = vectorLength(this.view, t);
    check(this.view, t + 4, n * 4);
    return Array.from({ length: n }, (_, i) => {
      const e = t + 4 + 4 * i;
      const pos = e + this.view.getUint32(e, true);
      check(this.view, pos, 4);
      return new Table(this.view, pos);
    });
  }
}

function check(v: DataView, pos: number, size: number): void {
  if (pos < 0 || pos + size > v.byteLength) throw new TfliteFormatError(`offset ${pos} (+${size}) runs past the end of the file (${v.byteLength} bytes)`);
}

function vectorLength(v: DataView, pos: number): number {
  check(v, pos, 4);
  return v.getUint32(pos, true);
}

// Field indices (schema.fbs declaration order).
const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, buffers: 4 } as const;
const OPERATOR_CODE = { deprecatedBuiltinCode: 0, builtinCode: 3 } as const;
const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3 } as const;
const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3 } as const;
const BUFFER = { data: 0, offset: 1, size: 2 } as const;
const OPERATOR = { opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptions: 4 } as const;
/** A deprecated code of 127 means "look at builtin_code" (ops numbered past 127). */
const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

/** Parses the first subgraph of a TFLite model. Throws `TfliteFormatError` for bytes that are not one. */
export function readTflite(bytes: Uint8Array): TfliteModel {
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(4, 8)) !== "TFL3") {
    throw new TfliteFormatError("not a TensorFlow Lite model (no TFL3 identifier)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = view.getUint32(0, true);
  check(view, root, 4);
  const model = new Table(view, root);
  const codes = model.tables(MODEL.operatorCodes).map((c) => {
    const deprecated = c.u8(OPERATOR_CODE.deprecatedBuiltinCode);
    const code = c.i32(OPERATOR_CODE.builtinCode);
    return deprecated === PLACEHOLDER_FOR_GREATER_OP_CODES ? code : Math.max(deprecated, code);
  });
  const buffers = model.tables(MODEL.buffers);
  const [graph] = model.tables(MODEL.subgraphs);
  if (!graph) throw new TfliteFormatError("the model has no subgraph");
  const tensors = graph.tables(SUBGRAPH.tensors).map((t, index): TfliteTensor => {
    const buffer = buffers[t.u32(TENSOR.buffer)];
    let data = buffer?.bytes(BUFFER.data);
    const offset = buffer?.u64(BUFFER.offset) ?? 0;
    if ((!data || data.length === 0) && offset > 1) {
      // Large models keep buffers after the FlatBuffer, addressed from the file's start.
      const size = buffer!.u64(BUFFER.size);
      check(view, offset, size);
      data = bytes.subarray(offset, offset + size);
    }
    return { index, name: t.string(TENSOR.name), shape: t.i32s(TENSOR.shape), type: t.u8(TENSOR.type), ...(data && data.length > 0 ? { data } : {}) };
  });
  const inRange = (i: number) => {
    if (i >= tensors.length || i < -1) throw new TfliteFormatError(`tensor index ${i} out of range (${tensors.length} tensors)`);
    return i;
  };
  const operators = graph.tables(SUBGRAPH.operators).map((o): TfliteOperator => {
    const code = codes[o.u32(OPERATOR.opcodeIndex)];
    if (code === undefined) throw new TfliteFormatError("operator refers to a missing operator code");
    const options = o.table(OPERATOR.builtinOptions);
    return { op: code, inputs: o.i32s(OPERATOR.inputs).map(inRange), outputs: o.i32s(OPERATOR.outputs).map(inRange), ...(options ? { options } : {}) };
  });
  return {
    version: model.u32(MODEL.version),
    tensors,
    inputs: graph.i32s(SUBGRAPH.inputs).map(inRange),
    outputs: graph.i32s(SUBGRAPH.outputs).map(inRange),
    operators,
  };
}
