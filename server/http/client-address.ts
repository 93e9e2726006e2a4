/**
 * The client's address for the per-address limits (failed-key back-off, open mode's rate limit, kiosk
 * sessions per address), behind reverse proxies. TRUST_PROXY says which hops' `X-Forwarded-For` to
 * believe; by default none: the socket's peer is the client and the header is ignored (anyone can
 * send one, so believing it would let a guesser pick a fresh address per try).
 *
 * - `TRUST_PROXY=1` (a hop count N): N proxies stand in front; the client is the N-th address from the
 *   right of `X-Forwarded-For, <socket peer>`. What a client writes into the header itself sits to the
 *   left of what the proxies append, so it is never picked.
 * - `TRUST_PROXY=127.0.0.1,10.0.0.0/8` (addresses / CIDR ranges of the proxies): walk from the socket
 *   peer leftwards, skipping trusted proxies; the first untrusted address is the client.
 */
import { isIP } from "node:net";
import type { TrustProxy } from "../config/trust-proxy.ts";

/** `::ffff:1.2.3.4` → `1.2.3.4` (a dual-stack socket reports IPv4 peers that way). */
function plain(address: string): string {
  const a = address.trim().replace(/^\[(.*)\](:\d+)?$/, "$1");
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a;
}

/**
 * The client address: `peer` is the socket's remote address, `forwardedFor` the X-Forwarded-For
 * header (all of them joined with commas, as fetch's Headers does).
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | null | undefined, trust: TrustProxy): string | undefined {
  if (peer === undefined || trust.kind === "none") return peer === undefined ? undefined : plain(peer);
  const chain = [
    ...(forwardedFor ?? "")
      .split(",")
      .map((s) => plain(s))
      .filter((s) => s !== ""),
    plain(peer),
  ];
  if (trust.kind === "hops") {
    // N trusted hops: the socket peer is the last of them; the client is N places to its left.
    const index = chain.length - 1 - trust.hops;
    // Fewer entries than hops: a request that came past the proxies; the leftmost is all there is.
    const picked = chain[Math.max(0, index)];
    return isIP(picked) !== 0 ? picked : plain(peer);
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const address = chain[i];
    const family = isIP(address);
    // Garbage in the header: stop believing it here, the hop that sent it is the client.
    if (family === 0) return chain[i + 1] ?? plain(peer);
    if (!trust.ranges.check(address, family === 4 ? "ipv4" : "ipv6")) return address;
  }
  // Every hop is a trusted proxy (e.g. a health check from the proxy itself): the leftmost.
  return chain[0];
}
