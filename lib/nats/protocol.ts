/**
 * The wire protocol between FaceClient and FaceWorker (ARCHITECTURE §6).
 *
 * Subjects: `facegate.v1.<operation>` (OPERATIONS names, queue group `facegate`: one worker answers),
 * `facegate.v1.stats` (plain subscription: every worker answers), events on
 * `facegate.v1.events.<company token>` (see events.ts).
 *
 * Request payload: a JSON envelope `{ args, opts? }`. Image fields given as bytes travel as raw
 * binary after the JSON instead of base64 (no 33 % inflation, no encode/decode): the header
 * `Facegate-Parts: <jsonBytes>,<part1Bytes>,...` gives the layout and the JSON holds
 * `{"$part": i}` where the image was. Images given as base64 strings stay strings.
 *
 * Reply payload: `{ result }` or `{ error: { code, message, details? } }`, with the headers
 * `Facegate-Worker` (who answered) and `Facegate-Revision` (the revision that worker had applied),
 * and on errors the NATS service-API headers `Nats-Service-Error` / `Nats-Service-Error-Code`.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import {
  ERROR_CODES,
  type ErrorCode,
  type FaceApi,
  FaceError,
  ListCompaniesRequestSchema,
  ListCompaniesResultSchema,
  ListUsersRequestSchema,
  ListUsersResultSchema,
  type OperationName,
  OPERATIONS,
  TimeoutError,
  UnavailableError,
} from "../core/internal.ts";
import { encodeId } from "./keys.ts";
import {
  CacheStatsSchema,
  CallOptionsSchema,
  CompanyRequestSchema,
  CompareRequestSchema,
  CompareResultSchema,
  CreateCompanyResultSchema,
  DeleteResultSchema,
  DetectResultSchema,
  EmbedResultSchema,
  EnrollRequestSchema,
  EnrollResultSchema,
  FaceRequestSchema,
  HealthSchema,
  ImageRequestSchema,
  RecognitionSchema,
  RecognizeFacesResultSchema,
  RecognizeRequestSchema,
  SearchEmbeddingRequestSchema,
  SearchEmbeddingResultSchema,
  OperatingPointRequestSchema,
  OperatingPointSchema,
  SetOperatingPointRequestSchema,
  UpdateUserRequestSchema,
  UserFacesResultSchema,
  UserInfoSchema,
  UserRequestSchema,
  VerifyRequestSchema,
  VerifyResultSchema,
} from "../core/internal.ts";

export const SUBJECT_PREFIX = "facegate.v1";
export const QUEUE_GROUP = "facegate";
export const STATS_SUBJECT = `${SUBJECT_PREFIX}.stats`;
export const subjectFor = (op: OperationName, prefix = SUBJECT_PREFIX) => `${prefix}.${OPERATIONS[op]}`;
/** The subject prefix that reaches one worker (its id as a base64url token: ids may hold dots). */
export const directPrefix = (workerId: string, prefix = SUBJECT_PREFIX) => `${prefix}.w.${encodeId(workerId)}`;

export const HDR_PARTS = "Facegate-Parts";
export const HDR_WORKER = "Facegate-Worker";
export const HDR_REVISION = "Facegate-Revision";
/** A write's Idempotency-Key, the same on every retry (lib/service/idempotency.ts). */
export const HDR_IDEMPOTENCY_KEY = "Facegate-Idempotency-Key";
/** `<direct prefix>.ping`: a worker answers at once, off its work queue (liveness, fixed size). */
export const PING_OPERATION = "ping";

/**
 * Per operation: request schema (null: no arguments), result schema, and whether a retry after an
 * unknown outcome (timeout) is safe. createUser/addFace are not: a retry of a write that did land
 * would report USER_EXISTS/FACE_EXISTS. The deletes and createCompany are idempotent in effect (a
 * retry may report `deleted/created: false` for the call's own earlier success).
 */
export const OPERATION_SPECS = {
  createCompany: { request: CompanyRequestSchema, result: CreateCompanyResultSchema, idempotent: true, write: true },
  deleteCompany: { request: CompanyRequestSchema, result: DeleteResultSchema, idempotent: true, write: true },
  createUser: { request: EnrollRequestSchema, result: EnrollResultSchema, idempotent: false, write: true },
  addFace: { request: EnrollRequestSchema, result: EnrollResultSchema, idempotent: false, write: true },
  deleteUser: { request: UserRequestSchema, result: DeleteResultSchema, idempotent: true, write: true },
  deleteFace: { request: FaceRequestSchema, result: DeleteResultSchema, idempotent: true, write: true },
  getUserFaces: { request: UserRequestSchema, result: UserFacesResultSchema, idempotent: true, write: false },
  getUser: { request: UserRequestSchema, result: UserInfoSchema, idempotent: true, write: false },
  updateUser: { request: UpdateUserRequestSchema, result: UserInfoSchema, idempotent: true, write: true },
  recognizeFace: { request: RecognizeRequestSchema, result: RecognitionSchema, idempotent: true, write: false },
  recognizeFaces: { request: RecognizeRequestSchema, result: RecognizeFacesResultSchema, idempotent: true, write: false },
  searchEmbedding: { request: SearchEmbeddingRequestSchema, result: SearchEmbeddingResultSchema, idempotent: true, write: false },
  getOperatingPoint: { request: OperatingPointRequestSchema, result: OperatingPointSchema, idempotent: true, write: false },
  setOperatingPoint: { request: SetOperatingPointRequestSchema, result: OperatingPointSchema, idempotent: true, write: true },
  detectFaces: { request: ImageRequestSchema, result: DetectResultSchema, idempotent: true, write: false },
  generateEmbedding: { request: ImageRequestSchema, result: EmbedResultSchema, idempotent: true, write: false },
  compare: { request: CompareRequestSchema, result: CompareResultSchema, idempotent: true, write: false },
  verify: { request: VerifyRequestSchema, result: VerifyResultSchema, idempotent: true, write: false },
  getCacheStats: { request: null, result: CacheStatsSchema, idempotent: true, write: false },
  healthCheck: { request: null, result: HealthSchema, idempotent: true, write: false },
  listCompanies: { request: ListCompaniesRequestSchema, result: ListCompaniesResultSchema, idempotent: true, write: false },
  listUsers: { request: ListUsersRequestSchema, result: ListUsersResultSchema, idempotent: true, write: false },
} as const satisfies Record<OperationName, { request: z.ZodType | null; result: z.ZodType; idempotent: boolean; write: boolean }>;

export const OPERATION_BY_NAME: ReadonlyMap<string, OperationName> = new Map(
  (Object.keys(OPERATIONS) as OperationName[]).map((op) => [OPERATIONS[op], op]),
);

export const RequestEnvelopeSchema = z.object({
  args: z.record(z.string(), z.unknown()).optional(),
  opts: CallOptionsSchema.optional(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;

export const WireErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});
export const ReplyEnvelopeSchema = z.union([
  z.object({ error: WireErrorSchema }),
  z.object({ result: z.unknown() }),
]);

const PartRefSchema = z.object({ $part: z.number().int().nonnegative() }).strict();

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Builds a request message. Top-level byte fields of `args` travel as binary parts. */
export function encodeRequest(
  args: Record<string, unknown> | undefined,
  opts?: RequestEnvelope["opts"],
): { payload: Uint8Array; headers?: MsgHdrs } {
  const parts: Uint8Array[] = [];
  let wireArgs: Record<string, unknown> | undefined;
  if (args) {
    wireArgs = {};
    for (const [k, v] of Object.entries(args)) {
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
        wireArgs[k] = { $part: parts.length };
        parts.push(v instanceof ArrayBuffer ? new Uint8Array(v) : v);
      } else if (v !== undefined) {
        wireArgs[k] = v;
      }
    }
  }
  const envelope: RequestEnvelope = {};
  if (wireArgs) envelope.args = wireArgs;
  if (opts && Object.keys(opts).length > 0) envelope.opts = opts;
  const jsonBytes = enc.encode(JSON.stringify(envelope));
  if (parts.length === 0) return { payload: jsonBytes };
  const total = jsonBytes.byteLength + parts.reduce((n, p) => n + p.byteLength, 0);
  const payload = new Uint8Array(total);
  payload.set(jsonBytes, 0);
  let offset = jsonBytes.byteLength;
  for (const p of parts) {
    payload.set(p, offset);
    offset += p.byteLength;
  }
  const h = natsHeaders();
  h.set(HDR_PARTS, [jsonBytes.byteLength, ...parts.map((p) => p.byteLength)].join(","));
  return { payload, headers: h };
}

/** Parses a request message; INVALID_ARGUMENT on any malformed framing or JSON. */
export function decodeRequest(data: Uint8Array, headers?: MsgHdrs): RequestEnvelope {
  const layout = headers?.get(HDR_PARTS);
  let sizes: number[] = [data.byteLength];
  if (layout) {
    sizes = layout.split(",").map((s) => Number(s));
    if (sizes.some((n) => !Number.isInteger(n) || n < 0) || sizes.reduce((a, b) => a + b, 0) !== data.byteLength) {
      throw new FaceError("INVALID_ARGUMENT", `bad ${HDR_PARTS} header: ${layout}`);
    }
  }
  let raw: unknown;
  try {
    raw = data.byteLength === 0 ? {} : JSON.parse(dec.decode(data.subarray(0, sizes[0])));
  } catch (err) {
    throw new FaceError("INVALID_ARGUMENT", "request is not JSON", { cause: err });
  }
  const parsed = RequestEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FaceError("INVALID_ARGUMENT", `bad request envelope: ${parsed.error.message}`, { details: parsed.error.issues });
  }
  const envelope = parsed.data;
  if (envelope.args && sizes.length > 1) {
    const offsets: number[] = [];
    let o = sizes[0]!;
    for (const n of sizes.slice(1)) {
      offsets.push(o);
      o += n;
    }
    for (const [k, v] of Object.entries(envelope.args)) {
      const ref = PartRefSchema.safeParse(v);
      if (!ref.success) continue;
      const i = ref.data.$part;
      if (i >= offsets.length) throw new FaceError("INVALID_ARGUMENT", `field ${k} names missing part ${i}`);
      envelope.args[k] = data.subarray(offsets[i], offsets[i]! + sizes[i + 1]!);
    }
  }
  return envelope;
}

export function encodeReply(result: unknown): Uint8Array {
  return enc.encode(JSON.stringify({ result }));
}

export function encodeError(error: FaceError): Uint8Array {
  const body: { code: ErrorCode; message: string; details?: unknown } = { code: error.code, message: error.message };
  if (error.details !== undefined && error.code === "INVALID_ARGUMENT") body.details = error.details;
  return enc.encode(JSON.stringify({ error: body }));
}

/** Parses a reply: the result, or throws the worker's error as a typed FaceError. */
export function decodeReply(data: Uint8Array): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch (err) {
    throw new FaceError("INTERNAL", "worker reply is not JSON", { cause: err });
  }
  const parsed = ReplyEnvelopeSchema.safeParse(raw);
  if (!parsed.success) throw new FaceError("INTERNAL", `bad worker reply: ${parsed.error.message}`);
  if ("error" in parsed.data) throw errorFromWire(parsed.data.error);
  return parsed.data.result;
}

export function errorFromWire(e: z.infer<typeof WireErrorSchema>): FaceError {
  const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(e.code) ? (e.code as ErrorCode) : "INTERNAL";
  const options = e.details === undefined ? {} : { details: e.details };
  if (code === "TIMEOUT") return new TimeoutError(e.message, options);
  if (code === "UNAVAILABLE") return new UnavailableError(e.message, options);
  return new FaceError(code, e.message, options);
}

// ---------------------------------------------------------------- per-worker stats (facegate.v1.stats)

export const OperationStatsSchema = z.object({
  count: z.number().int(),
  errors: z.number().int(),
  totalMs: z.number(),
});

export const WorkerStatsSchema = z.object({
  workerId: z.string(),
  startedAt: z.string(),
  uptimeSeconds: z.number(),
  concurrency: z.number().int(),
  inFlight: z.number().int(),
  backlog: z.number().int(),
  draining: z.boolean(),
  processed: z.number().int(),
  failed: z.number().int(),
  timedOut: z.number().int(),
  /** Revision of the gallery this worker has applied. */
  revision: z.number().int().nonnegative(),
  /** Subject prefix that reaches this worker only (`<direct>.<operation>`): least-loaded routing. */
  direct: z.string().optional(),
  operations: z.record(z.string(), OperationStatsSchema),
  cache: CacheStatsSchema.optional(),
  health: HealthSchema.optional(),
});
export type WorkerStats = z.infer<typeof WorkerStatsSchema>;

/** The FaceApi method for an operation, typed loosely at the dispatch boundary (inputs are zod-checked). */
export function apiMethod(api: FaceApi, op: OperationName): (req: unknown, opts?: unknown) => Promise<unknown> {
  const fn = api[op] as unknown as (this: FaceApi, ...a: unknown[]) => Promise<unknown>;
  return (req, opts) => (OPERATION_SPECS[op].request === null ? fn.call(api, opts) : fn.call(api, req, opts));
}
