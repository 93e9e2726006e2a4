/**
 * The desk: one application layer between the ways in (HTTP routes, kiosk sessions) and FaceApi,
 * built once at composition time. Each way in gets its FaceApi through the desk's decorator stack:
 *
 *   measured (FaceApi metrics, labelled with the way in)
 *     → deadline (REQUEST_TIMEOUT; kiosk: the frame's own timeout when shorter)
 *       → admitted (the one admission limiter; kiosk frames on the kiosk share, shed when it is full)
 *         → the FaceApi (LocalFaceService embedded, FaceClient in NATS mode)
 *
 * HTTP requests take their admission slot and deadline in the route handler (server/http/app.ts),
 * from the same limiter: there the slot is taken after the body is read and the deadline covers the
 * upload too, which a FaceApi call cannot see.
 */
import { FaceError, OPERATIONS, type CallOptions, type FaceApi, type OperationName } from "../../lib/core/mod.ts";
import type { ServerMetrics } from "../observe/metrics.ts";
import { AdmissionLimiter, withDeadline } from "./limits.ts";

/** How a call came in: the label on the FaceApi metrics. */
export type WayIn = "http" | "kiosk";

/** The operations that run the engine: the ones the admission limiter guards. */
export const ENGINE_OPERATIONS: ReadonlySet<OperationName> = new Set<OperationName>([
  "createUser",
  "addFace",
  "recognizeFace",
  "recognizeFaces",
  "detectFaces",
  "generateEmbedding",
  "verify",
]);

export interface DeskOptions {
  api: FaceApi;
  metrics: ServerMetrics;
  /** MAX_INFLIGHT, MAX_QUEUE, KIOSK_SHARE, REQUEST_TIMEOUT_MS. */
  limits: { maxInflight: number; maxQueue: number; kioskShare: number; requestTimeoutMs: number };
}

export class Desk {
  /** The one admission limiter, for HTTP requests and kiosk frames alike. */
  readonly admission: AdmissionLimiter;
  /** FaceApi for HTTP routes: measured (admission and deadline are the route handler's). */
  readonly http: FaceApi;
  /** FaceApi for kiosk sessions: measured, under the deadline, kiosk frames admitted on the kiosk share. */
  readonly kiosk: FaceApi;

  constructor(readonly options: DeskOptions) {
    const { api, metrics, limits } = options;
    this.admission = new AdmissionLimiter(limits.maxInflight, limits.maxQueue, undefined, limits.kioskShare);
    this.http = measured(api, metrics, "http");
    this.kiosk = measured(withDeadlines(kioskAdmitted(api, this.admission), limits.requestTimeoutMs), metrics, "kiosk");
  }
}

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

/** Every FaceApi method through `wrap(name, call)`; methods are looked up per call (proxies, late binding). */
function decorate(api: FaceApi, wrap: (name: OperationName, call: (args: unknown[]) => Promise<unknown>, args: unknown[]) => Promise<unknown>): FaceApi {
  const out = {} as Record<OperationName, AnyMethod>;
  for (const name of Object.keys(OPERATIONS) as OperationName[]) {
    out[name] = (...args: unknown[]) => wrap(name, (a) => (api[name] as unknown as AnyMethod).apply(api, a), args);
  }
  return out as unknown as FaceApi;
}

/** Times every call by operation, outcome and way in (facegate_operation_duration_seconds). */
export function measured(api: FaceApi, metrics: ServerMetrics, way: WayIn): FaceApi {
  return decorate(api, async (name, call, args) => {
    const started = performance.now();
    let outcome = "ok";
    try {
      return await call(args);
    } catch (error) {
      outcome = FaceError.is(error) ? error.code : "INTERNAL";
      throw error;
    } finally {
      metrics.operation(OPERATIONS[name], outcome, (performance.now() - started) / 1000, way);
    }
  });
}

/** Bounds every call by `ms` (REQUEST_TIMEOUT_MS), or by the call's own `timeoutMs` when shorter. */
export function withDeadlines(api: FaceApi, ms: number): FaceApi {
  return decorate(api, (name, call, args) => {
    const opts = args[1] as CallOptions | undefined;
    const limit = opts?.timeoutMs !== undefined && (ms <= 0 || opts.timeoutMs < ms) ? opts.timeoutMs : ms;
    return withDeadline(call(args), limit, OPERATIONS[name]);
  });
}

/**
 * Kiosk frames' engine calls take a kiosk slot or are shed at once: 503 UNAVAILABLE with
 * `details.shed` (the session counts it and answers the frame; the kiosk sends its next one).
 */
export function kioskAdmitted(api: FaceApi, admission: AdmissionLimiter): FaceApi {
  return decorate(api, async (name, call, args) => {
    if (!ENGINE_OPERATIONS.has(name)) return call(args);
    const release = admission.tryAcquireKiosk();
    if (!release) {
      throw new FaceError("UNAVAILABLE", "server busy: frame shed (the kiosk share of the engine slots is in use)", {
        details: { shed: true, retryAfterSeconds: 1 },
      });
    }
    // The slot is held until the work ends, past a deadline too: the inference still runs.
    const work = call(args);
    work.then(release, release);
    return work;
  });
}

/** True for the error of a kiosk frame shed by the admission limiter. */
export function isShed(error: unknown): boolean {
  return FaceError.is(error, "UNAVAILABLE") && (error.details as { shed?: unknown } | undefined)?.shed === true;
}
