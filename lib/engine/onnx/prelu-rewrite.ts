/**
 * Rewrites every PRelu of an ONNX model into Mul + Max, which give the same bits and run ~2x faster.
 *
 * Why: onnxruntime's CPU PRelu is a scalar loop with a branch per element (Eigen's `select`), so its
 * cost depends on the data: on real faces fr_feature's 33 PRelus took 4.5 of its 7.0 ms (branch
 * mispredictions; 1.8 ms on an all-zero input), and the NCHWc layout pass wraps each one in layout
 * reorders. `max(y, a*y)` equals PRelu(y) = (y > 0 ? y : a*y) exactly when a <= 1 (the product is the
 * same float multiply PRelu does; max only selects), and both ops are vectorised. For a channel with
 * a > 1 the sign trick `-max(-y, (-a)*y) = min(y, a*y)` keeps it exact (multiplying by -1 is exact).
 * Measured (onnxruntime 1.30, 1 thread, LFW faces): fr_feature 6.9 → 3.3 ms, outputs bit-identical.
 * ArcFace-style recognizers (iresnet) are PReLU networks too and gain the same way.
 *
 * A PRelu whose slope is not a float initializer, models older than opset 8 (Max without
 * broadcasting) and models with external data are left as they are.
 */
import { fields, fieldString, MessageWriter, ProtobufError, WIRE, type Field } from "./protobuf.ts";

const MODEL = { irVersion: 1, graph: 7, opsetImport: 8 } as const;
const OPSET = { domain: 1, version: 2 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12 } as const;
const VALUE_INFO = { name: 1 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, domain: 7 } as const;
const TENSOR = { dims: 1, dataType: 2, floatData: 4, name: 8, rawData: 9, dataLocation: 14 } as const;
const FLOAT = 1;
const EXTERNAL = 1;

export interface PreluRewrite {
  /** The model to load: the input itself when nothing was rewritten. */
  bytes: Uint8Array;
  /** PRelu nodes replaced. */
  rewritten: number;
  /** PRelu nodes left as they were (slope not a float initializer, or the model too old). */
  kept: number;
}

interface NodeInfo {
  field: Field;
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
}

interface Slope {
  dims: number[];
  values: Float32Array;
}

function parseNode(b: Uint8Array, f: Field): NodeInfo {
  const node: NodeInfo = { field: f, opType: "", domain: "", name: "", inputs: [], outputs: [] };
  for (const g of fields(b, f.dataStart, f.dataEnd)) {
    if (g.wire !== WIRE.len) continue;
    if (g.no === NODE.input) node.inputs.push(fieldString(b, g));
    else if (g.no === NODE.output) node.outputs.push(fieldString(b, g));
    else if (g.no === NODE.name) node.name = fieldString(b, g);
    else if (g.no === NODE.opType) node.opType = fieldString(b, g);
    else if (g.no === NODE.domain) node.domain = fieldString(b, g);
  }
  return node;
}

function readFloats(b: Uint8Array, start: number, end: number): Float32Array {
  const view = new DataView(b.buffer, b.byteOffset + start, end - start);
  const out = new Float32Array((end - start) / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** A float initializer's dims and values, or undefined when it is another type or stored externally. */
function parseSlope(b: Uint8Array, f: Field): Slope | undefined {
  const dims: number[] = [];
  let dataType = 0;
  let values: Float32Array | undefined;
  const floats: number[] = [];
  for (const g of fields(b, f.dataStart, f.dataEnd)) {
    if (g.no === TENSOR.dims && g.wire === WIRE.varint) dims.push(g.value);
    else if (g.no === TENSOR.dims && g.wire === WIRE.len) {
      for (const d of packedVarints(b, g)) dims.push(d);
    } else if (g.no === TENSOR.dataType) dataType = g.value;
    else if (g.no === TENSOR.rawData) values = readFloats(b, g.dataStart, g.dataEnd);
    else if (g.no === TENSOR.floatData && g.wire === WIRE.len) values = readFloats(b, g.dataStart, g.dataEnd);
    else if (g.no === TENSOR.floatData && g.wire === WIRE.i32) floats.push(...readFloats(b, g.start + 1, g.end));
    else if (g.no === TENSOR.dataLocation && g.value === EXTERNAL) return undefined;
  }
  if (dataType !== FLOAT) return undefined;
  values ??= Float32Array.from(floats);
  const count = dims.reduce((n, d) => n * d, 1);
  return values.length === count ? { dims, values } : undefined;
}

function* packedVarints(b: Uint8Array, f: Field): Generator<number> {
  let pos = f.dataStart;
  while (pos < f.dataEnd) {
    let value = 0;
    let mul = 1;
    let byte: number;
    do {
      if (pos >= f.dataEnd) throw new ProtobufError("truncated packed varint");
      byte = b[pos++];
      value += (byte & 0x7f) * mul;
      mul *= 128;
    } while (byte >= 0x80);
    yield value;
  }
}

function nodeBytes(opType: string, name: string, inputs: string[], outputs: string[]): Uint8Array {
  const w = new MessageWriter();
  for (const i of inputs) w.stringField(NODE.input, i);
  for (const o of outputs) w.stringField(NODE.output, o);
  w.stringField(NODE.name, name).stringField(NODE.opType, opType);
  return w.bytes();
}

function tensorBytes(name: string, dims: number[], values: Float32Array): Uint8Array {
  const w = new MessageWriter();
  for (const d of dims) w.varintField(TENSOR.dims, d);
  w.varintField(TENSOR.dataType, FLOAT).stringField(TENSOR.name, name);
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return w.bytesField(TENSOR.rawData, raw).bytes();
}

/** Default-domain opset version and IR version of a model. */
function modelVersions(b: Uint8Array): { opset: number; ir: number; graph?: Field } {
  let opset = 0;
  let ir = 0;
  let graph: Field | undefined;
  for (const f of fields(b)) {
    if (f.no === MODEL.irVersion && f.wire === WIRE.varint) ir = f.value;
    else if (f.no === MODEL.graph && f.wire === WIRE.len) graph = f;
    else if (f.no === MODEL.opsetImport && f.wire === WIRE.len) {
      let domain = "";
      let version = 0;
      for (const g of fields(b, f.dataStart, f.dataEnd)) {
        if (g.no === OPSET.domain && g.wire === WIRE.len) domain = fieldString(b, g);
        else if (g.no === OPSET.version && g.wire === WIRE.varint) version = g.value;
      }
      if (domain === "" || domain === "ai.onnx") opset = version;
    }
  }
  return { opset, ir, graph };
}

/**
 * The model with its PRelu nodes replaced (see the module comment). Bytes that are not a model it
 * understands come back unchanged (`rewritten: 0`), so onnxruntime gives its own error for them.
 */
export function rewritePrelu(model: Uint8Array): PreluRewrite {
  try {
    return rewrite(model);
  } catch (error) {
    if (error instanceof ProtobufError || error instanceof RangeError || error instanceof TypeError) {
      return { bytes: model, rewritten: 0, kept: 0 };
    }
    throw error;
  }
}

function rewrite(b: Uint8Array): PreluRewrite {
  const unchanged = { bytes: b, rewritten: 0, kept: 0 };
  const { opset, ir, graph } = modelVersions(b);
  if (!graph) return unchanged;
  const nodes: NodeInfo[] = [];
  const initializers = new Map<string, Field>();
  const graphFields: Field[] = [];
  for (const f of fields(b, graph.dataStart, graph.dataEnd)) {
    graphFields.push(f);
    if (f.no === GRAPH.node && f.wire === WIRE.len) nodes.push(parseNode(b, f));
    else if (f.no === GRAPH.initializer && f.wire === WIRE.len) {
      for (const g of fields(b, f.dataStart, f.dataEnd)) {
        if (g.no === TENSOR.name && g.wire === WIRE.len) initializers.set(fieldString(b, g), f);
        // Loaded from bytes, onnxruntime could not find external data files: leave such a model alone.
        else if (g.no === TENSOR.dataLocation && g.value === EXTERNAL) return unchanged;
      }
    }
  }
  const prelus = nodes.filter((n) => n.opType === "PRelu" && (n.domain === "" || n.domain === "ai.onnx"));
  if (prelus.length === 0) return unchanged;
  if (opset < 8) return { ...unchanged, kept: prelus.length };

  const replacement = new Map<Field, Uint8Array[]>();
  const added: Uint8Array[] = [];
  // Slopes only the sign trick's nodes replaced; dropped unless something else reads them
  // (onnxruntime warns about initializers no node uses).
  const unusedSlopes = new Set<string>();
  let kept = 0;
  for (const node of prelus) {
    const [x, slopeName] = node.inputs;
    const [y] = node.outputs;
    const slopeField = slopeName === undefined ? undefined : initializers.get(slopeName);
    const slope = slopeField && parseSlope(b, slopeField);
    if (!slope || x === undefined || y === undefined || node.outputs.length !== 1) {
      kept++;
      continue;
    }
    const base = `facegate_prelu/${node.name || y}`;
    if (slope.values.every((a) => a <= 1)) {
      replacement.set(node.field, [
        nodeBytes("Mul", `${base}/mul`, [x, slopeName], [`${base}/ay`]),
        nodeBytes("Max", `${base}/max`, [x, `${base}/ay`], [y]),
      ]);
      continue;
    }
    // New initializers must also be graph inputs before IR version 4: leave such a node alone.
    if (ir < 4) {
      kept++;
      continue;
    }
    unusedSlopes.add(slopeName);
    const sign = slope.values.map((a) => (a > 1 ? -1 : 1));
    const signedSlope = slope.values.map((a, i) => a * sign[i]);
    added.push(tensorBytes(`${base}/s`, slope.dims, sign), tensorBytes(`${base}/sa`, slope.dims, signedSlope));
    replacement.set(node.field, [
      nodeBytes("Mul", `${base}/mul_s`, [x, `${base}/s`], [`${base}/sy`]),
      nodeBytes("Mul", `${base}/mul_sa`, [x, `${base}/sa`], [`${base}/say`]),
      nodeBytes("Max", `${base}/max`, [`${base}/sy`, `${base}/say`], [`${base}/smax`]),
      nodeBytes("Mul", `${base}/unsign`, [`${base}/smax`, `${base}/s`], [y]),
    ]);
  }
  if (replacement.size === 0) return { ...unchanged, kept };
  for (const n of nodes) if (!replacement.has(n.field)) for (const i of n.inputs) unusedSlopes.delete(i);
  for (const f of graphFields) {
    if ((f.no === GRAPH.input || f.no === GRAPH.output) && f.wire === WIRE.len) {
      for (const g of fields(b, f.dataStart, f.dataEnd)) if (g.no === VALUE_INFO.name && g.wire === WIRE.len) unusedSlopes.delete(fieldString(b, g));
    }
  }
  const dropped = new Set([...initializers].filter(([name]) => unusedSlopes.has(name)).map(([, f]) => f));

  const g = new MessageWriter();
  for (const f of graphFields) {
    const nodesFor = replacement.get(f);
    if (nodesFor) for (const n of nodesFor) g.bytesField(GRAPH.node, n);
    else if (!dropped.has(f)) g.raw(b.subarray(f.start, f.end));
  }
  for (const t of added) g.bytesField(GRAPH.initializer, t);
  const m = new MessageWriter();
  for (const f of fields(b)) {
    if (f === graph || f.start === graph.start) m.bytesField(MODEL.graph, g.bytes());
    else m.raw(b.subarray(f.start, f.end));
  }
  return { bytes: m.bytes(), rewritten: replacement.size, kept };
}
