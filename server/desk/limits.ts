/**
 * Request limits that are not about bodies: a per-key token bucket, a per-request deadline and
 * bounded admission of engine-bound work.
 */
import { FaceError } from "../../lib/core/mod.ts";

export interface RateDecision {
  ok: boolean;
  /** Whole seconds until one request is allowed again (0 when ok). */
  retryAfterSeconds: number;
  remaining: number;
}

/**
 * Token bucket per id: `burst` tokens of capacity (at most `perMinute`), refilled continuously at
 * `perMinute`, so a burst of `burst` requests passes and then one every 60/perMinute seconds.
 * The burst used to be the whole minute (1,200): a key could start that many uploads at once.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;
  readonly burst: number;

  constructor(
    readonly perMinute: number,
    burst: number = perMinute,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
    this.burst = Math.max(1, Math.min(burst, perMinute));
  }

  take(id: string): RateDecision {
    if (this.perMinute <= 0) return { ok: true, retryAfterSeconds: 0, remaining: Number.POSITIVE_INFINITY };
    const now = this.now();
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size > 10_000) this.prune(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(id, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perMs);
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
      if (b.tokens + (now - b.at) * this.perMs >= this.burst) this.buckets.delete(id);
    }
  }
}

/**
 * Races `work` against a deadline; on expiry throws TIMEOUT (503). The work itself cannot be
 * cancelled (inference is not interruptible), so its eventual result or error is dropped.
 */
export async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  what = "request",
  /** Told on expiry (e.g. to abort a request still waiting for an admission slot). */
  onExpire?: (error: FaceError) => void,
): Promise<T> {
  if (ms <= 0) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new FaceError("TIMEOUT", `${what} did not complete within ${ms} ms`);
      onExpire?.(error);
      reject(error);
    }, ms);
  });
  work.catch(() => {}); // a late failure after the deadline must not become an unhandled rejection
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A slot in the admission limiter: call once when the engine work is over (extra calls are no-ops). */
export type Release = () => void;

export interface AdmissionSnapshot {
  maxInFlight: number;
  maxQueue: number;
  inFlight: number;
  queued: number;
  /** Requests that got a slot (at once or after waiting). */
  admitted: number;
  /**
   * Refusals by reason: queue full, deadline expired while queued, client gone while queued, and
   * kiosk frames shed (no kiosk slot free: they never queue).
   */
  rejected: { queueFull: number; timeout: number; clientGone: number; kioskShed: number };
  /** Slots kiosk frames may use (KIOSK_SHARE of MAX_INFLIGHT, at least 1), and kiosk frames running. */
  kioskSlots: number;
  kioskInFlight: number;
}

interface Waiter {
  grant: () => void;
  enqueued: number;
}

/**
 * Bounded admission for CPU-bound work: at most `maxInFlight` holders and `maxQueue` waiters
 * (FIFO); beyond that `acquire` refuses at once with 503 UNAVAILABLE (never a hang). A waiter
 * whose signal aborts (the request deadline, or the client leaving) leaves the queue without
 * running. A slot is held until the work itself ends, not until the response: inference cannot
 * be interrupted, so a timed-out request still occupies the engine and must keep its slot.
 * `maxInFlight` 0 disables the limiter.
 *
 * Kiosk frames share the slots (one limiter for both ways in) on their own terms, `tryAcquireKiosk`:
 * a frame runs only while fewer than `kioskSlots` calls of either way are in flight and no request
 * waits, else it is shed at once (counted), never queued. A kiosk streams frames and keeps only its
 * newest (the next one is a fraction of a second away), so a burst of 40 kiosks fills the idle
 * slots and no more: HTTP requests find a slot free, or wait only behind each other.
 */
export class AdmissionLimiter {
  private active = 0;
  private kioskActive = 0;
  private readonly waiting: Waiter[] = [];
  private admitted = 0;
  private readonly rejected = { queueFull: 0, timeout: 0, clientGone: 0, kioskShed: 0 };
  /** Moving average of how long a slot is held (ms): the basis of Retry-After. */
  private meanHoldMs = 0;
  /** How many calls (of either way) may be in flight for a kiosk frame to start. */
  readonly kioskSlots: number;

  constructor(
    readonly maxInFlight: number,
    readonly maxQueue: number,
    private readonly now: () => number = () => performance.now(),
    /** KIOSK_SHARE: the part of `maxInFlight` kiosk frames may fill (0..1; at least one slot). */
    readonly kioskShare = 0.5,
  ) {
    this.kioskSlots = maxInFlight > 0 ? Math.max(1, Math.floor(maxInFlight * kioskShare)) : 0;
  }

  get enabled(): boolean {
    return this.maxInFlight > 0;
  }

  /** True when a request arriving now would be refused (checked before reading its body). */
  get full(): boolean {
    return this.enabled && this.active >= this.maxInFlight && this.waiting.length >= this.maxQueue;
  }

  /**
   * Seconds until a request arriving now could expect a slot: the queue ahead of it, divided
   * among the slots, times the mean hold time; at least 1, at most 60.
   */
  retryAfterSeconds(): number {
    const ahead = this.waiting.length + 1;
    const seconds = (ahead / Math.max(1, this.maxInFlight)) * (this.meanHoldMs / 1000);
    return Math.min(60, Math.max(1, Math.ceil(seconds)));
  }

  /** Counts a refusal and returns its error: 503 UNAVAILABLE with `details.retryAfterSeconds`. */
  refusal(): FaceError {
    this.rejected.queueFull++;
    const retryAfterSeconds = this.retryAfterSeconds();
    return new FaceError(
      "UNAVAILABLE",
      `server busy: ${this.active} requests running and ${this.waiting.length} waiting; retry in ${retryAfterSeconds} s`,
      { details: { retryAfterSeconds } },
    );
  }

  snapshot(): AdmissionSnapshot {
    return {
      maxInFlight: this.maxInFlight,
      maxQueue: this.maxQueue,
      inFlight: this.active,
      queued: this.waiting.length,
      admitted: this.admitted,
      rejected: { ...this.rejected },
      kioskSlots: this.kioskSlots,
      kioskInFlight: this.kioskActive,
    };
  }

  /**
   * A slot for a kiosk frame, or null: shed (counted in `rejected.kioskShed`) when `kioskSlots`
   * calls are in flight already or a request waits for a slot.
   */
  tryAcquireKiosk(): Release | null {
    if (!this.enabled) return () => {};
    if (this.active >= this.kioskSlots || this.waiting.length > 0) {
      this.rejected.kioskShed++;
      return null;
    }
    this.kioskActive++;
    const release = this.grant();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.kioskActive--;
      release();
    };
  }

  /**
   * A slot now, or after waiting in line. Throws FaceError UNAVAILABLE (full; `details.retryAfterSeconds`)
   * or, when `signal` aborts while waiting, its reason if that is a FaceError (the deadline's
   * TIMEOUT), else UNAVAILABLE.
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (!this.enabled) return Promise.resolve(() => {});
    if (signal?.aborted) return Promise.reject(this.abandon(signal));
    if (this.active < this.maxInFlight) return Promise.resolve(this.grant());
    if (this.waiting.length >= this.maxQueue) return Promise.reject(this.refusal());
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        enqueued: this.now(),
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.grant());
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i < 0) return; // already granted
        this.waiting.splice(i, 1);
        reject(this.abandon(signal!, this.now() - waiter.enqueued));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private grant(): Release {
    this.active++;
    this.admitted++;
    const started = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const held = this.now() - started;
      this.meanHoldMs = this.meanHoldMs === 0 ? held : this.meanHoldMs * 0.9 + held * 0.1;
      this.active--;
      // Hand the slot to the oldest waiter (it was counted out of `active` just above).
      if (this.active < this.maxInFlight) this.waiting.shift()?.grant();
    };
  }

  private abandon(signal: AbortSignal, waitedMs?: number): FaceError {
    const reason: unknown = signal.reason;
    if (reason instanceof FaceError) {
      if (reason.code === "TIMEOUT") this.rejected.timeout++;
      else this.rejected.clientGone++;
      const waited = waitedMs === undefined ? "" : ` after ${Math.round(waitedMs)} ms in the queue`;
      return new FaceError(reason.code, `${reason.message}${waited}; the work was not started`, {
        details: { retryAfterSeconds: this.retryAfterSeconds() },
      });
    }
    this.rejected.clientGone++;
    return new FaceError("UNAVAILABLE", "the client went away while the request was queued", { cause: reason });
  }
}
