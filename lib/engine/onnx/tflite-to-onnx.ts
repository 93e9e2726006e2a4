/**
 * Converts a float32 TensorFlow Lite CNN into an ONNX model in memory, so onnxruntime runs it like the
 * other models (the file on disk, its sha256 and its model id stay the shipped ones; the conversion is
 * done at load, like the PRelu rewrite).
 *
 * Layout: TFLite activations are NHWC, ONNX convolutions NCHW. Every 4-D activation is kept NCHW in the
 * ONNX graph: the graph input is [N,C,H,W] (what the recognizer pipeline feeds), convolution weights are
 * transposed once here (OHWI → OIHW; depthwise [1,H,W,C·M] → [C·M,1,H,W] with group = C), constants of
 * element-wise ops are permuted to broadcast over NCHW, and a Reshape of a 4-D tensor reads it back in
 * NHWC order (Transpose first) so its element order is TFLite's. The batch dimension becomes dynamic
 * (`N`): a Reshape's leading dimension copies the input's batch.
 *
 * Padding: SAME is TFLite's (extra row/column at the end), written as explicit pads from the known
 * spatial sizes; VALID is no padding. Fused activations (RELU, RELU6, RELU_N1_TO_1) become their own
 * node.
 *
 * PReLU: TensorFlow's `relu(x) + c · (x − |x|)` (RELU, ABS, SUB, MUL, ADD) is recognised and emitted as
 * one PRelu with slope 2c (the same value: x − |x| = 2x exactly), which `rewritePrelu` then turns into
 * Mul + Max like fr_feature's.
 *
 * Ops: CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL, RELU, RELU6, ABS, RESHAPE. Anything else (or a
 * quantised tensor) is a `TfliteFormatError` naming it.
 */
import { MessageWriter } from "./protobuf.ts";
import { ACTIVATION, OP, OP_NAMES, PADDING, readTflite, TENSOR_TYPE, TfliteFormatError, type TfliteModel, type TfliteOperator, type TfliteTensor } from "./tflite-schema.ts";

export { TfliteFormatError };

export interface ConvertedModel {
  /** The ONNX model (opset 13). */
  bytes: Uint8Array;
  /** Graph input (NCHW, dynamic batch) and output names. */
  input: string;
  output: string;
  /** PReLU patterns folded into PRelu nodes. */
  prelus: number;
  /** TFLite operators converted. */
  operators: number;
}

// ---------------------------------------------------------------- ONNX protobuf (onnx.proto field numbers)

const ONNX_FLOAT = 1;
const ONNX_INT64 = 7;
const ATTR = { name: 1, i: 3, ints: 8, type: 20 } as const;
const ATTR_TYPE = { INT: 2, INTS: 7 } as const;

type Attr = { name: string; int: number } | { name: string; ints: number[] };

function attribute(a: Attr): Uint8Array {
  const w = new MessageWriter().stringField(ATTR.name, a.name);
  if ("int" in a) w.varintField(ATTR.i, a.int).varintField(ATTR.type, ATTR_TYPE.INT);
  else {
    for (const v of a.ints) {
      if (v < 0) throw new TfliteFormatError(`negative attribute value ${v} for ${a.name}`);
      w.varintField(ATTR.ints, v);
    }
    w.varintField(ATTR.type, ATTR_TYPE.INTS);
  }
  return w.bytes();
}

function node(opType: string, name: string, inputs: string[], outputs: string[], attrs: Attr[] = []): Uint8Array {
  const w = new MessageWriter();
  for (const i of inputs) w.stringField(1, i);
  for (const o of outputs) w.stringField(2, o);
  w.stringField(3, name).stringField(4, opType);
  for (const a of attrs) w.bytesField(5, attribute(a));
  return w.bytes();
}

function floatTensor(name: string, dims: number[], values: Float32Array): Uint8Array {
  const w = new MessageWriter();
  for (const d of dims) w.varintField(1, d);
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return w.varintField(2, ONNX_FLOAT).stringField(8, name).bytesField(9, raw).bytes();
}

function int64Tensor(name: string, values: number[]): Uint8Array {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return new MessageWriter().varintField(1, values.length).varintField(2, ONNX_INT64).stringField(8, name).bytesField(9, raw).bytes();
}

/** A float tensor value with its shape; a dimension given as a string is symbolic. */
function valueInfo(name: string, dims: (number | string)[]): Uint8Array {
  const shape = new MessageWriter();
  for (const d of dims) {
    const dim = new MessageWriter();
    if (typeof d === "string") dim.stringField(2, d);
    else dim.varintField(1, d);
    shape.bytesField(1, dim.bytes());
  }
  const tensorType = new MessageWriter().varintField(1, ONNX_FLOAT).bytesField(2, shape.bytes());
  const type = new MessageWriter().bytesField(1, tensorType.bytes());
  return new MessageWriter().stringField(1, name).bytesField(2, type.bytes()).bytes();
}

// ---------------------------------------------------------------- helpers

function floats(t: TfliteTensor): Float32Array {
  if (t.type !== TENSOR_TYPE.FLOAT32) throw new TfliteFormatError(`tensor ${t.name} is not float32 (type ${t.type}): quantised models are not supported`);
  if (!t.data) throw new TfliteFormatError(`tensor ${t.name} has no data`);
  const count = t.shape.reduce((n, d) => n * d, 1);
  if (t.data.length !== count * 4) throw new TfliteFormatError(`tensor ${t.name}: ${t.data.length} bytes for shape ${JSON.stringify(t.shape)}`);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
}

function int32s(t: TfliteTensor): number[] {
  if (t.type !== TENSOR_TYPE.INT32 || !t.data) throw new TfliteFormatError(`tensor ${t.name} is not an int32 constant`);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Array.from({ length: t.data.length / 4 }, (_, i) => view.getInt32(i * 4, true));
}

/** A 4-D array permuted: out[i0..i3] where out dims = dims[perm]. */
function permute4(values: Float32Array, dims: number[], perm: number[]): Float32Array {
  const strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
  const od = perm.map((p) => dims[p]);
  const os = perm.map((p) => strides[p]);
  const out = new Float32Array(values.length);
  let k = 0;
  for (let a = 0; a < od[0]; a++)
    for (let b = 0; b < od[1]; b++)
      for (let c = 0; c < od[2]; c++)
        for (let d = 0; d < od[3]; d++) out[k++] = values[a * os[0] + b * os[1] + c * os[2] + d * os[3]];
  return out;
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** TFLite SAME padding for one spatial axis: [before, after] (the odd pixel goes after). */
function samePads(input: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

// ---------------------------------------------------------------- the conversion

class Converter {
  private readonly nodes: Uint8Array[] = [];
  private readonly initializers: Uint8Array[] = [];
  private readonly names = new Map<number, string>();
  private readonly consumers = new Map<number, TfliteOperator[]>();
  private readonly producer = new Map<number, TfliteOperator>();
  private readonly skipped = new Set<TfliteOperator>();
  private counter = 0;
  prelus = 0;

  constructor(private readonly m: TfliteModel) {
    for (const op of m.operators) {
      for (const i of op.inputs) if (i >= 0) this.consumers.set(i, [...(this.consumers.get(i) ?? []), op]);
      for (const o of op.outputs) this.producer.set(o, op);
    }
  }

  private tensor(i: number): TfliteTensor {
    return this.m.tensors[i];
  }

  private fresh(base: string): string {
    return `${base}#${this.counter++}`;
  }

  private constant(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  /** The ONNX value of a TFLite tensor: an activation already emitted, or a constant (permuted for NCHW broadcasting). */
  private value(i: number, nchw = true): string {
    const known = this.names.get(i);
    if (known) return known;
    const t = this.tensor(i);
    if (!t.data) throw new TfliteFormatError(`tensor ${t.name} is used before it is produced`);
    const v = floats(t);
    if (!nchw) return this.constant(this.fresh(t.name), t.shape, v);
    // Broadcast against NHWC activations: right-align to rank 4, then permute to NCHW.
    const dims4 = [...Array(Math.max(0, 4 - t.shape.length)).fill(1), ...t.shape];
    if (t.shape.length > 4) throw new TfliteFormatError(`constant ${t.name} has rank ${t.shape.length}`);
    const name = this.constant(t.name, NHWC_TO_NCHW.map((p) => dims4[p]), permute4(v, dims4, NHWC_TO_NCHW));
    this.names.set(i, name);
    return name;
  }

  private only(tensor: number, op: TfliteOperator): boolean {
    const users = this.consumers.get(tensor) ?? [];
    return users.every((u) => u === op) && !this.m.outputs.includes(tensor);
  }

  private activation(out: string, fused: number, base: string): string {
    if (fused === ACTIVATION.NONE) return out;
    const y = this.fresh(`${base}/act`);
    if (fused === ACTIVATION.RELU) this.nodes.push(node("Relu", y, [out], [y]));
    else if (fused === ACTIVATION.RELU6 || fused === ACTIVATION.RELU_N1_TO_1) {
      const [lo, hi] = fused === ACTIVATION.RELU6 ? [0, 6] : [-1, 1];
      const min = this.constant(this.fresh(`${base}/min`), [], Float32Array.of(lo));
      const max = this.constant(this.fresh(`${base}/max`), [], Float32Array.of(hi));
      this.nodes.push(node("Clip", y, [out, min, max], [y]));
    } else throw new TfliteFormatError(`fused activation ${fused} is not supported`);
    return y;
  }

  private emit(op: TfliteOperator, opType: string, inputs: string[], attrs: Attr[] = [], fused: number = ACTIVATION.NONE): void {
    const outT = this.tensor(op.outputs[0]);
    const raw = fused === ACTIVATION.NONE ? outT.name : this.fresh(`${outT.name}/pre`);
    this.nodes.push(node(opType, raw, inputs, [raw], attrs));
    this.names.set(op.outputs[0], this.activation(raw, fused, outT.name));
  }

  private conv(op: TfliteOperator, depthwise: boolean): void {
    const o = op.options;
    if (!o) throw new TfliteFormatError("convolution without options");
    // Conv2DOptions: padding 0, stride_w 1, stride_h 2, fused 3, dilation_w 4, dilation_h 5.
    // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3, fused 4, dilation_w 5, dilation_h 6.
    const padding = o.u8(0);
    const [sw, sh] = [o.i32(1, 1), o.i32(2, 1)];
    const fused = o.u8(depthwise ? 4 : 3);
    const [dw, dh] = depthwise ? [o.i32(5, 1), o.i32(6, 1)] : [o.i32(4, 1), o.i32(5, 1)];
    const [xi, wi, bi] = op.inputs;
    const x = this.tensor(xi);
    const w = this.tensor(wi);
    if (x.shape.length !== 4 || w.shape.length !== 4) throw new TfliteFormatError(`convolution ${w.name}: input and weights must be 4-D`);
    const [, inH, inW, inC] = x.shape;
    const wv = floats(w);
    let weights: Float32Array;
    let wdims: number[];
    let group = 1;
    let kh: number;
    let kw: number;
    if (depthwise) {
      // [1, H, W, C·M] → [C·M, 1, H, W]; ONNX's group = C maps output channel c·M + m to input c, as TFLite does.
      [, kh, kw] = w.shape;
      const out = w.shape[3];
      weights = permute4(wv, w.shape, [3, 0, 1, 2]);
      wdims = [out, 1, kh, kw];
      group = inC;
      if (out % inC !== 0) throw new TfliteFormatError(`depthwise ${w.name}: ${out} outputs for ${inC} channels`);
    } else {
      // OHWI → OIHW
      [, kh, kw] = w.shape;
      if (w.shape[3] !== inC) throw new TfliteFormatError(`convolution ${w.name}: weights for ${w.shape[3]} channels, input has ${inC}`);
      weights = permute4(wv, w.shape, [0, 3, 1, 2]);
      wdims = [w.shape[0], w.shape[3], kh, kw];
    }
    const wname = this.constant(`${w.name}/oihw`, wdims, weights);
    const inputs = [this.value(xi), wname];
    if (bi !== undefined && bi >= 0) {
      const b = this.tensor(bi);
      inputs.push(this.constant(`${b.name}/bias`, [b.shape[0]], floats(b)));
    }
    let pads = [0, 0, 0, 0];
    if (padding === PADDING.SAME) {
      const [t, bo] = samePads(inH, kh, sh, dh);
      const [l, r] = samePads(inW, kw, sw, dw);
      pads = [t, l, bo, r];
    } else if (padding !== PADDING.VALID) throw new TfliteFormatError(`padding ${padding} is not supported`);
    this.emit(
      op,
      "Conv",
      inputs,
      [
        { name: "kernel_shape", ints: [kh, kw] },
        { name: "strides", ints: [sh, sw] },
        { name: "dilations", ints: [dh, dw] },
        { name: "pads", ints: pads },
        { name: "group", int: group },
      ],
      fused,
    );
  }

  /** `relu(x) + c·(x − |x|)` rooted at this ADD: the PRelu's input and slope 2c, or undefined. */
  private preluPattern(add: TfliteOperator): { x: number; slope: TfliteTensor; ops: TfliteOperator[] } | undefined {
    if ((add.options?.u8(0) ?? 0) !== ACTIVATION.NONE) return undefined;
    const parts = add.inputs.map((i) => this.producer.get(i));
    const relu = parts.find((p) => p?.op === OP.RELU);
    const mul = parts.find((p) => p?.op === OP.MUL);
    if (!relu || !mul || (mul.options?.u8(0) ?? 0) !== ACTIVATION.NONE) return undefined;
    const x = relu.inputs[0];
    const slopeIndex = mul.inputs.find((i) => this.tensor(i).data);
    const sub = mul.inputs.map((i) => this.producer.get(i)).find((p) => p?.op === OP.SUB);
    if (slopeIndex === undefined || !sub || sub.inputs[0] !== x || (sub.options?.u8(0) ?? 0) !== ACTIVATION.NONE) return undefined;
    const abs = this.producer.get(sub.inputs[1]);
    if (abs?.op !== OP.ABS || abs.inputs[0] !== x) return undefined;
    const ops = [relu, abs, sub, mul];
    const internal: [number, TfliteOperator][] = [
      [relu.outputs[0], add],
      [abs.outputs[0], sub],
      [sub.outputs[0], mul],
      [mul.outputs[0], add],
    ];
    if (!internal.every(([t, user]) => this.only(t, user))) return undefined;
    return { x, slope: this.tensor(slopeIndex), ops };
  }

  private prelu(add: TfliteOperator, x: number, slope: TfliteTensor): void {
    const c = floats(slope);
    const channels = this.tensor(x).shape.at(-1)!;
    if (c.length !== channels && c.length !== 1) throw new TfliteFormatError(`PReLU slope ${slope.name} has ${c.length} values for ${channels} channels`);
    const doubled = c.map((v) => 2 * v);
    const name = this.constant(`${slope.name}/prelu_slope`, this.tensor(x).shape.length === 4 ? [c.length, 1, 1] : [c.length], doubled);
    this.emit(add, "PRelu", [this.value(x), name]);
    this.prelus++;
  }

  private binary(op: TfliteOperator, opType: string): void {
    // constants broadcast over NCHW only against 4-D activations
    const nchw = this.tensor(op.outputs[0]).shape.length === 4;
    this.emit(op, opType, op.inputs.map((i) => this.value(i, nchw)), [], op.options?.u8(0) ?? ACTIVATION.NONE);
  }

  private reshape(op: TfliteOperator): void {
    const x = this.tensor(op.inputs[0]);
    const out = this.tensor(op.outputs[0]);
    let target = out.shape;
    if (op.inputs[1] !== undefined && op.inputs[1] >= 0 && this.tensor(op.inputs[1]).data) target = int32s(this.tensor(op.inputs[1]));
    else if (op.options) target = op.options.i32s(0);
    if (target.length === 0) throw new TfliteFormatError(`reshape to ${out.name} has no target shape`);
    // the leading dimension is the batch: copy it from the input (0), so the batch stays dynamic
    const shape = target.map((d, i) => (i === 0 && d === x.shape[0] ? 0 : d));
    let input = this.value(op.inputs[0]);
    if (x.shape.length === 4) {
      const nhwc = this.fresh(`${out.name}/nhwc`);
      this.nodes.push(node("Transpose", nhwc, [input], [nhwc], [{ name: "perm", ints: NCHW_TO_NHWC }]));
      input = nhwc;
    }
    const shapeName = this.fresh(`${out.name}/shape`);
    this.initializers.push(int64Tensor(shapeName, shape));
    if (target.length === 4) {
      const y = this.fresh(`${out.name}/nhwc_out`);
      this.nodes.push(node("Reshape", y, [input, shapeName], [y]));
      this.nodes.push(node("Transpose", out.name, [y], [out.name], [{ name: "perm", ints: NHWC_TO_NCHW }]));
    } else {
      this.nodes.push(node("Reshape", out.name, [input, shapeName], [out.name]));
    }
    this.names.set(op.outputs[0], out.name);
  }

  convert(): ConvertedModel {
    const m = this.m;
    if (m.inputs.length !== 1 || m.outputs.length !== 1) throw new TfliteFormatError(`expected one input and one output, got ${m.inputs.length} and ${m.outputs.length}`);
    const inT = this.tensor(m.inputs[0]);
    const outT = this.tensor(m.outputs[0]);
    if (inT.shape.length !== 4 || inT.type !== TENSOR_TYPE.FLOAT32) throw new TfliteFormatError(`input ${inT.name} must be a float32 NHWC image, got ${JSON.stringify(inT.shape)}`);
    const input = inT.name || "input";
    this.names.set(m.inputs[0], input);
    // PReLU patterns first: their ADD becomes one PRelu, the RELU/ABS/SUB/MUL feeding it are dropped
    const preluAt = new Map<TfliteOperator, { x: number; slope: TfliteTensor }>();
    for (const op of m.operators) {
      if (op.op !== OP.ADD) continue;
      const p = this.preluPattern(op);
      if (!p) continue;
      preluAt.set(op, p);
      for (const o of p.ops) this.skipped.add(o);
    }
    for (const op of m.operators) {
      if (this.skipped.has(op)) continue;
      const p = preluAt.get(op);
      if (p) {
        this.prelu(op, p.x, p.slope);
        continue;
      }
      switch (op.op) {
        case OP.CONV_2D:
          this.conv(op, false);
          break;
        case OP.DEPTHWISE_CONV_2D:
          this.conv(op, true);
          break;
        case OP.ADD:
          this.binary(op, "Add");
          break;
        case OP.SUB:
          this.binary(op, "Sub");
          break;
        case OP.MUL:
          this.binary(op, "Mul");
          break;
        case OP.RELU:
          this.emit(op, "Relu", [this.value(op.inputs[0])]);
          break;
        case OP.RELU6:
          this.emit(op, "Identity", [this.value(op.inputs[0])], [], ACTIVATION.RELU6);
          break;
        case OP.ABS:
          this.emit(op, "Abs", [this.value(op.inputs[0])]);
          break;
        case OP.RESHAPE:
          this.reshape(op);
          break;
        default:
          throw new TfliteFormatError(`TFLite operator ${OP_NAMES[op.op] ?? op.op} is not supported by the converter`);
      }
    }
    const last = this.names.get(m.outputs[0]);
    if (!last) throw new TfliteFormatError(`output ${outT.name} is never produced`);
    const output = outT.name || "output";
    if (last !== output) this.nodes.push(node("Identity", output, [last], [output]));

    const batch = "N";
    const [, h, w, c] = inT.shape;
    const outDims: (number | string)[] = outT.shape.length === 4 ? [batch, outT.shape[3], outT.shape[1], outT.shape[2]] : [batch, ...outT.shape.slice(1)];
    const g = new MessageWriter();
    for (const n of this.nodes) g.bytesField(1, n);
    g.stringField(2, "tflite");
    for (const t of this.initializers) g.bytesField(5, t);
    g.bytesField(11, valueInfo(input, [batch, c, h, w]));
    g.bytesField(12, valueInfo(output, outDims));
    const opset = new MessageWriter().stringField(1, "").varintField(2, 13);
    const model = new MessageWriter()
      .varintField(1, 8) // IR version 8
      .stringField(2, "facegate tflite-to-onnx")
      .bytesField(7, g.bytes())
      .bytesField(8, opset.bytes());
    return { bytes: model.bytes(), input, output, prelus: this.prelus, operators: m.operators.length };
  }
}

/** The ONNX model of a float32 TFLite CNN (module comment). Throws `TfliteFormatError` for what it cannot convert. */
export function tfliteToOnnx(tflite: Uint8Array): ConvertedModel {
  return new Converter(readTflite(tflite)).convert();
}
