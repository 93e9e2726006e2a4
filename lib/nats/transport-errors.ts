/**
 * What a failed NATS request means for the caller: the error to throw (our codes) and whether the
 * same request may be tried again. Kept apart from the client so the mapping is one table.
 */
import { errors as natsErrors, type MsgHdrs } from "@nats-io/transport-node";
import { FaceError, TimeoutError, UnavailableError } from "../core/internal.ts";

/** Bytes the headers add to a message (what the client library counts against max_payload). */
export function encodedHeaderBytes(h: MsgHdrs): number {
  return (h as unknown as { encode(): Uint8Array }).encode().byteLength;
}

/**
 * How a failed attempt may be retried: "all" (nothing reached a worker: any operation), "idempotent"
 * (outcome unknown or transient: reads and idempotent writes only), "never" (the same request would
 * fail the same way: the worker's own verdict, a request NATS refuses, a closed client).
 */
export type Retry = "all" | "idempotent" | "never";

/** Maps a transport failure to our errors. Only transient failures are retried. */
export function transportError(err: unknown, subject: string, payloadBytes?: number, maxPayload?: number): { error: FaceError; retry: Retry } {
  if (err instanceof FaceError) {
    return { error: err, retry: err.code === "TIMEOUT" || err.code === "UNAVAILABLE" ? "idempotent" : "never" };
  }
  if (err instanceof natsErrors.TimeoutError) return { error: new TimeoutError(`no reply on ${subject}`, { cause: err }), retry: "idempotent" };
  if (err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders())) {
    return { error: new UnavailableError(`no worker serves ${subject}`, { cause: err }), retry: "all" };
  }
  if (err instanceof natsErrors.RequestError && err.cause instanceof natsErrors.TimeoutError) {
    return { error: new TimeoutError(`no reply on ${subject}`, { cause: err }), retry: "idempotent" };
  }
  const inner = err instanceof natsErrors.RequestError && err.cause instanceof Error ? err.cause : err;
  if (inner instanceof natsErrors.InvalidArgumentError && /max_payload/.test(inner.message)) {
    // The client library refuses to publish more than the server's max_payload: permanent, 413.
    const size = payloadBytes !== undefined ? `request of ${payloadBytes} bytes (with headers)` : "request";
    const limit = maxPayload !== undefined ? ` of ${maxPayload} bytes` : "";
    return { error: new FaceError("PAYLOAD_TOO_LARGE", `${size} exceeds the NATS server's max_payload${limit}`, { cause: err }), retry: "never" };
  }
  if (inner instanceof natsErrors.InvalidArgumentError || inner instanceof natsErrors.InvalidSubjectError) {
    return { error: new FaceError("INVALID_ARGUMENT", `NATS refused the request: ${inner.message}`, { cause: err }), retry: "never" };
  }
  if (inner instanceof natsErrors.PermissionViolationError || inner instanceof natsErrors.AuthorizationError) {
    return { error: new UnavailableError(`NATS refused the request: ${inner.message}`, { cause: err }), retry: "never" };
  }
  if (inner instanceof natsErrors.ClosedConnectionError || inner instanceof natsErrors.DrainingConnectionError) {
    return { error: new UnavailableError("NATS connection closed", { cause: err }), retry: "never" };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { error: new UnavailableError(`NATS request failed: ${message}`, { cause: err }), retry: "idempotent" };
}
