/** Request limits that are not about bodies: a per-key token bucket and a per-request deadline. */
import { FaceError } from "../lib/core/mod.ts";

export interface RateDecision {
  ok: boolean;
  /** Whole seconds until one request is allowed again (0 when ok). */
  retryAfterSeconds: number;
  remaining: number;
}

/**
 * Token bucket per id: `perMinute` tokens of capacity, refilled continuously, so a burst of
 * `perMinute` requests passes and then one every 60/perMinute seconds.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(readonly perMinute: number, private readonly now: () => number = Date.now) {
    this.perMs = perMinute / 60_000;
  }

  take(id: string): RateDecision {
    if (this.perMinute <= 0) return { ok: true, retryAfterSeconds: 0, remaining: Number.POSITIVE_INFINITY };
    const now = this.now();
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size > 10_000) this.prune(now);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(id, bucket);
    } else {
      bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true, retryAfterSeconds: 0, remaining: Math.floor(bucket.tokens) };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)), remaining: 0 };
  }

  /** Drops buckets that have refilled completely (they equal a fresh one). */
  private prune(now: number): void {
    for (const [id, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.perMinute) this.buckets.delete(id);
    }
  }
}

/**
 * Races `work` against a deadline; on expiry throws TIMEOUT (503). The work itself cannot be
 * cancelled (inference is not interruptible), so its eventual result or error is dropped.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what = "request"): Promise<T> {
  if (ms <= 0) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FaceError("TIMEOUT", `${what} did not complete within ${ms} ms`)), ms);
  });
  work.catch(() => {}); // a late failure after the deadline must not become an unhandled rejection
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
