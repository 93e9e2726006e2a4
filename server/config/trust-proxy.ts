/**
 * TRUST_PROXY, parsed: none (default), a hop count, or the proxies' addresses / CIDR ranges.
 * server/http/client-address.ts picks the client address with it.
 */
import { BlockList, isIP } from "node:net";

export type TrustProxy = { kind: "none" } | { kind: "hops"; hops: number } | { kind: "ranges"; ranges: BlockList; text: string[] };

export const NO_TRUST: TrustProxy = { kind: "none" };

/** Parses TRUST_PROXY; throws an Error naming the bad entry. */
export function parseTrustProxy(text: string | undefined): TrustProxy {
  const value = text?.trim() ?? "";
  if (value === "" || /^(0|false|no|off|none)$/i.test(value)) return NO_TRUST;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 32) throw new Error(`${value} hops: expected at most 32`);
    return { kind: "hops", hops };
  }
  const ranges = new BlockList();
  const entries = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    const ip = (cidr ? cidr[1] : entry).replace(/^\[(.*)\]$/, "$1");
    const family = isIP(ip);
    if (family === 0) throw new Error(`${JSON.stringify(entry)} is not a hop count, an IP address or a CIDR range`);
    const max = family === 4 ? 32 : 128;
    const prefix = cidr ? Number(cidr[2]) : max;
    if (prefix > max) throw new Error(`${JSON.stringify(entry)}: prefix /${prefix} is too long`);
    ranges.addSubnet(ip, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  return { kind: "ranges", ranges, text: entries };
}

