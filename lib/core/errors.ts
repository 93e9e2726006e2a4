/**
 * Typed errors. Every failure that crosses a boundary (HTTP, WebSocket, NATS) is a FaceError
 * with a stable `code`; transports map codes to statuses, never messages.
 */

export const ERROR_CODES = [
  "INVALID_ARGUMENT",
  "INVALID_IMAGE",
  "IMAGE_TOO_LARGE",
  "NO_FACE",
  "MULTIPLE_FACES",
  "FACE_TOO_SMALL",
  "FACE_QUALITY",
  "COMPANY_NOT_FOUND",
  "USER_NOT_FOUND",
  "USER_EXISTS",
  "FACE_EXISTS",
  "MODEL_MISMATCH",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PAYLOAD_TOO_LARGE",
  "RATE_LIMITED",
  "INVALID_IDEMPOTENCY_KEY",
  "IDEMPOTENCY_KEY_REUSED",
  "TIMEOUT",
  "UNAVAILABLE",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status for each code (ARCHITECTURE §7). */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  INVALID_IMAGE: 400,
  IMAGE_TOO_LARGE: 413,
  NO_FACE: 422,
  MULTIPLE_FACES: 422,
  FACE_TOO_SMALL: 422,
  /** Enrollment quality gate: the message and details name the check, the measured value and the bound. */
  FACE_QUALITY: 422,
  COMPANY_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  USER_EXISTS: 409,
  FACE_EXISTS: 409,
  MODEL_MISMATCH: 409,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  /** The path exists, not with this method: the answer's `Allow` header lists the methods it takes. */
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  /** An Idempotency-Key header that is empty, too long or not printable ASCII. */
  INVALID_IDEMPOTENCY_KEY: 400,
  /** The same Idempotency-Key sent earlier with another request (other body or arguments). */
  IDEMPOTENCY_KEY_REUSED: 422,
  TIMEOUT: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

export interface FaceErrorOptions {
  cause?: unknown;
  /** Extra machine-readable details (e.g. the zod issues of an invalid argument). */
  details?: unknown;
}

export class FaceError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: FaceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FaceError";
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** The wire shape `{ error: { code, message } }`. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }

  static is(error: unknown, code?: ErrorCode): error is FaceError {
    return error instanceof FaceError && (code === undefined || error.code === code);
  }

  /** Wraps anything thrown into a FaceError; unknown failures become INTERNAL with the original as cause. */
  static from(error: unknown): FaceError {
    if (error instanceof FaceError) return error;
    return new FaceError("INTERNAL", "internal error", { cause: error });
  }
}

/** A call did not complete in time (client side, NATS). */
export class TimeoutError extends FaceError {
  constructor(message = "timed out", options: FaceErrorOptions = {}) {
    super("TIMEOUT", message, options);
    this.name = "TimeoutError";
  }
}

/** Nobody could serve the call: no responders, not connected, shutting down. */
export class UnavailableError extends FaceError {
  constructor(message = "service unavailable", options: FaceErrorOptions = {}) {
    super("UNAVAILABLE", message, options);
    this.name = "UnavailableError";
  }
}
