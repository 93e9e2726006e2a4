/**
 * A global byte budget for request bodies, taken BEFORE the body is read: the declared
 * Content-Length (or MAX_BODY_BYTES for a chunked body) is reserved for the whole request, so
 * the bytes the server holds for bodies are bounded whatever the rate limit lets through. No
 * room: 503 UNAVAILABLE with Retry-After (others are uploading), or 429 RATE_LIMITED when this
 * key alone already holds half the budget (one key cannot starve the others).
 */
import type { MiddlewareHandler } from "hono";
import { FaceError } from "../../../lib/core/mod.ts";
import type { AppEnv } from "../env.ts";

export interface BodyBudgetSnapshot {
  capacity: number;
  perKey: number;
  held: number;
  /** Requests refused for want of budget, total and because one key held its share. */
  refused: number;
  refusedPerKey: number;
}

export class BodyBudget {
  readonly capacity: number;
  /** What one key may hold at once: half the budget, at least one body of the maximum size. */
  readonly perKey: number;
  private held = 0;
  private readonly byKey = new Map<string, number>();
  private refused = 0;
  private refusedPerKey = 0;

  constructor(capacity: number, readonly maxBodyBytes: number) {
    this.capacity = Math.max(capacity, maxBodyBytes);
    this.perKey = Math.max(maxBodyBytes, Math.floor(this.capacity / 2));
  }

  /** Reserves `bytes` for `key`; returns the release function or throws (503 / 429 with Retry-After). */
  reserve(bytes: number, key: string): () => void {
    if (bytes <= 0) return () => {};
    const mine = this.byKey.get(key) ?? 0;
    if (mine + bytes > this.perKey) {
      this.refused++;
      this.refusedPerKey++;
      throw new FaceError("RATE_LIMITED", `this key is already sending ${mine} bytes of request bodies (its share is ${this.perKey}); retry in 1 s`, {
        details: { retryAfterSeconds: 1 },
      });
    }
    if (this.held + bytes > this.capacity) {
      this.refused++;
      throw new FaceError("UNAVAILABLE", `server busy: ${this.held} bytes of request bodies are being read (budget ${this.capacity}); retry in 1 s`, {
        details: { retryAfterSeconds: 1 },
      });
    }
    this.held += bytes;
    this.byKey.set(key, mine + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      const left = (this.byKey.get(key) ?? bytes) - bytes;
      if (left <= 0) this.byKey.delete(key);
      else this.byKey.set(key, left);
    };
  }

  snapshot(): BodyBudgetSnapshot {
    return { capacity: this.capacity, perKey: this.perKey, held: this.held, refused: this.refused, refusedPerKey: this.refusedPerKey };
  }
}

/** Bytes to reserve: the declared length, MAX_BODY_BYTES when chunked, 0 when too large (413 follows without reading). */
export function bytesToReserve(req: Request, maxBodyBytes: number): number {
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d{1,16}$/.test(declared)) {
    const n = Number(declared);
    return n > maxBodyBytes ? 0 : n;
  }
  return req.body ? maxBodyBytes : 0;
}

/** Middleware: reserve before the handler reads the body, release when the request is answered. */
export function bodyBudget(budget: BodyBudget): MiddlewareHandler<AppEnv> {
  return async function bodyBudget(c, next) {
    const release = budget.reserve(bytesToReserve(c.req.raw, budget.maxBodyBytes), c.get("client") ?? "anonymous");
    try {
      await next();
    } finally {
      release();
    }
  };
}
