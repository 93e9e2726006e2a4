/**
 * The console's HTTP client: every call sends the signed-in key as X-API-Key and checks the answer
 * with a zod schema. Failures become ApiError with the server's stable code; a route the server
 * does not have (an older server) is told apart from a missing resource, so views can say which
 * feature is unavailable instead of failing.
 */
import { z } from "zod";

/** Fired on window when the server answers 401 to the signed-in key. */
export const KEY_REFUSED = "facegate:key-refused";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The server has no such route (404 NOT_FOUND "no route ..."): the feature is not on this server. */
  get missingRoute(): boolean {
    return this.status === 404 && this.code === "NOT_FOUND" && /^no route /.test(this.message);
  }
}

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) });

export interface CallInit {
  json?: unknown;
  form?: FormData;
  query?: Record<string, string | number | undefined>;
  accept?: string;
  signal?: AbortSignal;
}

export class Api {
  constructor(
    readonly key: string,
    private readonly base = "",
  ) {}

  url(path: string, query?: CallInit["query"]): string {
    const u = new URL(path, this.base || location.origin);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== "") u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** The raw response of a successful call; ApiError otherwise. */
  async fetch(method: string, path: string, init: CallInit = {}): Promise<Response> {
    // No key in open mode (the server has none): the header is left out rather than sent empty.
    const headers: Record<string, string> = { ...(this.key ? { "X-API-Key": this.key } : {}), Accept: init.accept ?? "application/json" };
    let body: BodyInit | undefined;
    if (init.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.form) body = init.form;
    let res: Response;
    try {
      res = await fetch(this.url(path, init.query), { method, headers, body, signal: init.signal, cache: "no-store" });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError(0, "NETWORK", `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
    }
    if (res.ok) return res;
    const text = await res.text();
    let parsed: z.infer<typeof ErrorBody> | undefined;
    try {
      const checked = ErrorBody.safeParse(JSON.parse(text));
      if (checked.success) parsed = checked.data;
    } catch {
      // not JSON: a proxy's page, for example
    }
    if (parsed) {
      // The key was revoked or rotated while signed in: the console signs out (main.ts listens).
      if (res.status === 401) window.dispatchEvent(new CustomEvent(KEY_REFUSED, { detail: parsed.error.message }));
      throw new ApiError(res.status, parsed.error.code, parsed.error.message, parsed.error.details);
    }
    throw new ApiError(res.status, `HTTP_${res.status}`, text.slice(0, 200) || res.statusText);
  }

  async call<S extends z.ZodType>(method: string, path: string, schema: S, init: CallInit = {}): Promise<z.output<S>> {
    const res = await this.fetch(method, path, init);
    const data: unknown = await res.json();
    const checked = schema.safeParse(data);
    if (!checked.success) {
      throw new ApiError(res.status, "UNEXPECTED_ANSWER", `${method} ${path}: unexpected answer (${checked.error.issues[0]?.path.join(".")}: ${checked.error.issues[0]?.message})`);
    }
    return checked.data;
  }

  get<S extends z.ZodType>(path: string, schema: S, init?: CallInit): Promise<z.output<S>> {
    return this.call("GET", path, schema, init);
  }
}

/** Enrollment and other refusals in words (the server's message adds the measured detail). */
const WORDS: Record<string, string> = {
  NO_FACE: "No face was found in this photo.",
  FACE_TOO_SMALL: "The face is too small to enroll: use a closer or larger photo.",
  MULTIPLE_FACES: "Several faces are in this photo and it is not clear which one to enroll.",
  FACE_QUALITY: "The face is not good enough to enroll",
  USER_EXISTS: "A person with this id is already enrolled: open them to add a face.",
  FACE_EXISTS: "This person already has a face with this id.",
  USER_NOT_FOUND: "This person is not enrolled (any more).",
  COMPANY_NOT_FOUND: "This company does not exist (any more).",
  INVALID_IMAGE: "This file is not an image the server can read (JPEG, PNG or WebP).",
  IMAGE_TOO_LARGE: "This image is too large for the server.",
  UNAUTHORIZED: "The key was not accepted.",
  FORBIDDEN: "This key may not do that.",
  RATE_LIMITED: "Too many requests: wait a moment and try again.",
  UNAVAILABLE: "The server is busy or starting: try again in a moment.",
  TIMEOUT: "The server took too long to answer.",
  NETWORK: "The server did not answer.",
};

/** One sentence for a failure: the words for its code, then the server's own detail. */
export function describeError(error: unknown, feature?: string): string {
  if (error instanceof ApiError) {
    if (error.missingRoute) return `${feature ?? "This feature"} is not available on this server (${error.message.replace(/^no route /, "")}).`;
    const words = WORDS[error.code];
    if (words && error.code === "FACE_QUALITY") return `${words}: ${error.message}`;
    if (words) return `${words} (${error.code}: ${error.message})`;
    return `${error.code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
