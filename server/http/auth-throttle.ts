/**
 * Back-off on failed keys, per client address (HTTP and the kiosk WebSocket share one instance).
 * The first `limit` wrong keys from an address are answered 401 as usual; each further one blocks
 * the address for twice as long as the previous (1 s, 2 s, 4 s, ... at most `maxMs`). While an
 * address is blocked, key checks from it are refused with 429 RATE_LIMITED and Retry-After, a
 * right key included (letting any right key through would tell a guesser which guess was right),
 * except keys that already authenticated from that address before: a kiosk fleet behind one NAT
 * keeps working while one misconfigured device backs off, and a guesser has no such key.
 * Failures are forgotten `forgetMs` after the last one. A success does not reset the count (a
 * holder of one valid key could otherwise keep guessing others between its own requests).
 */
import { FaceError } from "../../lib/core/mod.ts";
import type { ApiKeys, Principal } from "./auth.ts";

export interface AuthThrottleOptions {
  /** Failed keys per address before back-off; 0 disables the throttle. */
  limit: number;
  /** First block after the limit (doubling with each further failure). */
  baseMs?: number;
  maxMs?: number;
  forgetMs?: number;
  /** Addresses tracked at most (the oldest are forgotten first). */
  maxAddresses?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  last: number;
  blockedUntil: number;
}

export class AuthThrottle {
  readonly limit: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly forgetMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  /** Per address, the (non-secret) ids of keys that authenticated from it: they pass a block. */
  private readonly known = new Map<string, Set<string>>();
  /** Wrong keys seen, and key checks refused while blocked (for /metrics). */
  failures = 0;
  throttled = 0;

  constructor(options: AuthThrottleOptions) {
    this.limit = options.limit;
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = options.maxMs ?? 300_000;
    this.forgetMs = options.forgetMs ?? 900_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /**
   * Throws 429 RATE_LIMITED (details.retryAfterSeconds) while the address is backing off, unless
   * `keyId` (a valid key's principal id) already authenticated from this address.
   */
  check(address: string, keyId?: string): void {
    if (!this.enabled) return;
    if (keyId !== undefined && this.known.get(address)?.has(keyId)) return;
    const entry = this.current(address);
    if (!entry) return;
    const wait = entry.blockedUntil - this.now();
    if (wait <= 0) return;
    this.throttled++;
    const retryAfterSeconds = Math.max(1, Math.ceil(wait / 1000));
    throw new FaceError("RATE_LIMITED", `too many wrong API keys from this address; retry in ${retryAfterSeconds} s`, {
      details: { retryAfterSeconds },
    });
  }

  /** Records a wrong key from the address. */
  failure(address: string): void {
    this.failures++;
    if (!this.enabled) return;
    const now = this.now();
    let entry = this.current(address);
    if (!entry) {
      if (this.entries.size >= this.maxAddresses) this.prune(now);
      entry = { failures: 0, last: now, blockedUntil: 0 };
      this.entries.set(address, entry);
    }
    entry.failures++;
    entry.last = now;
    const over = entry.failures - this.limit;
    if (over > 0) entry.blockedUntil = now + Math.min(this.maxMs, this.baseMs * 2 ** Math.min(over - 1, 30));
  }

  /** A valid key authenticated from the address (call after `check` passed). */
  success(address: string, keyId: string): void {
    if (!this.enabled) return;
    let ids = this.known.get(address);
    if (!ids) {
      if (this.known.size >= this.maxAddresses) {
        const oldest = this.known.keys().next().value;
        if (oldest !== undefined) this.known.delete(oldest);
      }
      ids = new Set();
      this.known.set(address, ids);
    }
    if (ids.size < 64) ids.add(keyId);
  }

  /** Failures recorded for an address (0 once forgotten). */
  failuresOf(address: string): number {
    return this.current(address)?.failures ?? 0;
  }

  private current(address: string): Entry | undefined {
    const entry = this.entries.get(address);
    if (entry && this.now() - entry.last > this.forgetMs && this.now() >= entry.blockedUntil) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }

  private prune(now: number): void {
    for (const [address, entry] of this.entries) {
      if (now - entry.last > this.forgetMs && now >= entry.blockedUntil) this.entries.delete(address);
    }
    // Still full: forget the oldest (Map keeps insertion order).
    for (const address of this.entries.keys()) {
      if (this.entries.size < this.maxAddresses) break;
      this.entries.delete(address);
    }
  }
}

/**
 * The key check with the failed-key back-off (server/auth-throttle.ts): a wrong key counts (a
 * missing one is not a guess); while the address backs off only keys already seen from it pass.
 */
export function authenticateWithBackoff(keys: ApiKeys, throttle: AuthThrottle | undefined, address: string, key: string | undefined): Principal {
  let principal: Principal;
  try {
    principal = keys.authenticate(key);
  } catch (error) {
    throttle?.check(address);
    if (key) throttle?.failure(address);
    throw error;
  }
  throttle?.check(address, principal.id);
  throttle?.success(address, principal.id);
  return principal;
}
