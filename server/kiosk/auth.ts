/**
 * Kiosk authentication, decided during the WebSocket upgrade: the key comes from the `key` query
 * parameter, the `X-API-Key` header (non-browser clients), or a `Sec-WebSocket-Protocol` entry
 * `facegate.key.<key>` (browsers cannot set headers; the server answers the protocol
 * `facegate.v1`, which the client lists first). The key needs the `recognize` scope on the company.
 * Wrong keys count toward the per-address back-off shared with HTTP (server/auth-throttle.ts).
 * Only authenticated connections become sessions, so only they count toward KIOSK_MAX_SESSIONS
 * and the per-address cap (`AddressCounter`).
 */
import { FaceError } from "../../lib/core/mod.ts";
import type { ApiKeys, Principal } from "../http/auth.ts";
import { authenticateWithBackoff, type AuthThrottle } from "../http/auth-throttle.ts";

/** The subprotocol the server answers; a client offering a key protocol lists it first. */
export const KIOSK_SUBPROTOCOL = "facegate.v1";
/** Prefix of the subprotocol entry that carries the key. */
export const KEY_SUBPROTOCOL_PREFIX = "facegate.key.";

export interface UpgradeRequest {
  query(name: string): string | undefined;
  header(name: string): string | undefined;
}

/** The key of an upgrade request: query `key`, then `X-API-Key`, then `Sec-WebSocket-Protocol`. */
export function kioskKey(req: UpgradeRequest): string | undefined {
  const fromQuery = req.query("key");
  if (fromQuery) return fromQuery;
  const fromHeader = req.header("x-api-key");
  if (fromHeader) return fromHeader;
  for (const entry of (req.header("sec-websocket-protocol") ?? "").split(",")) {
    const p = entry.trim();
    if (p.startsWith(KEY_SUBPROTOCOL_PREFIX) && p.length > KEY_SUBPROTOCOL_PREFIX.length) return p.slice(KEY_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}

/**
 * The principal for a kiosk on `companyId`, or a FaceError: RATE_LIMITED (the address is backing
 * off: answered 429 before upgrading), UNAUTHORIZED, FORBIDDEN (no recognize scope on the company).
 */
export function authenticateKiosk(keys: ApiKeys, throttle: AuthThrottle | undefined, address: string, companyId: string, key: string | undefined): Principal {
  if (keys.open) return keys.authenticate(undefined);
  let principal: Principal;
  try {
    principal = authenticateWithBackoff(keys, throttle, address, key);
  } catch (error) {
    if (FaceError.is(error, "UNAUTHORIZED") && !key) {
      throw new FaceError("UNAUTHORIZED", "missing API key: send it as ?key=, the X-API-Key header or the subprotocol facegate.key.<key>");
    }
    throw error;
  }
  keys.authorize(principal, "recognize", companyId);
  return principal;
}

/** Live sessions per client address, with a cap (KIOSK_MAX_SESSIONS_PER_ADDRESS). */
export class AddressCounter {
  private readonly counts = new Map<string, number>();
  constructor(readonly max: number) {}

  /** Counts one more session for the address; false (nothing counted) when it is at the cap. */
  tryAdd(address: string): boolean {
    const n = this.counts.get(address) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(address, n + 1);
    return true;
  }

  remove(address: string): void {
    const n = (this.counts.get(address) ?? 1) - 1;
    if (n <= 0) this.counts.delete(address);
    else this.counts.set(address, n);
  }

  of(address: string): number {
    return this.counts.get(address) ?? 0;
  }
}
