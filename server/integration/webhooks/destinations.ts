/**
 * Where a webhook may POST. A company's manage key sets the URL, so without a check it could make the
 * server POST to 127.0.0.1, the LAN or a cloud metadata service and read the status back from
 * GET .../webhook (server-side request forgery). Refused: loopback, unspecified, RFC 1918, shared
 * (CGNAT), link-local, IPv6 unique-local, multicast, reserved and the metadata addresses, for IP
 * literals and for every address a host name resolves to.
 *
 * The check runs when the URL is set (400 INVALID_ARGUMENT naming the settings) and again before each
 * delivery, which then connects to the address it checked (`pinned`: the host name stays in the Host
 * header and TLS SNI / certificate check), so a DNS answer that changes after the check (rebinding)
 * cannot send the request anywhere else.
 *
 * WEBHOOK_ALLOW_PRIVATE=true turns the check off; WEBHOOK_ALLOWED_HOSTS lets chosen host names
 * (`hooks.corp`, `*.corp.example`) or addresses (`10.0.5.7`, `10.0.5.0/24`, `fd00:1::/64`) through.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { FaceError } from "../../../lib/core/mod.ts";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (node's dns.lookup with all: true, by default). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface DestinationPolicyOptions {
  /** WEBHOOK_ALLOW_PRIVATE: no address check at all. */
  allowPrivate?: boolean;
  /** WEBHOOK_ALLOWED_HOSTS: host names (`*.` prefix for subdomains), addresses or CIDR ranges. */
  allowedHosts?: readonly string[];
  resolve?: Resolver;
}

/** Where one delivery connects: the URL to fetch (host replaced by the checked address) and what keeps the name. */
export interface Destination {
  url: string;
  /** The original host (and port) for the Host header; undefined when the URL is used as given. */
  host?: string;
  /** TLS server name (SNI and the certificate's name) when the URL's host was replaced. */
  serverName?: string;
}

const SETTINGS_HINT = "set WEBHOOK_ALLOW_PRIVATE=true, or list the host or its address range in WEBHOOK_ALLOWED_HOSTS";

/** Address classes refused by default, most specific first (metadata before link-local). */
const CLASSES: Array<{ name: string; v4?: Array<[string, number]>; v6?: Array<[string, number]> }> = [
  {
    name: "cloud metadata",
    // AWS/GCP/Azure/OpenStack, AWS ECS task metadata, AWS over IPv6, Alibaba, Oracle
    v4: [["169.254.169.254", 32], ["169.254.170.2", 32], ["100.100.100.200", 32], ["192.0.0.192", 32]],
    v6: [["fd00:ec2::254", 128]],
  },
  { name: "loopback", v4: [["127.0.0.0", 8]], v6: [["::1", 128]] },
  { name: "unspecified", v4: [["0.0.0.0", 8]], v6: [["::", 128]] },
  { name: "private (RFC 1918)", v4: [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16]] },
  { name: "shared (CGNAT, RFC 6598)", v4: [["100.64.0.0", 10]] },
  { name: "link-local", v4: [["169.254.0.0", 16]], v6: [["fe80::", 10]] },
  { name: "unique-local (IPv6 ULA)", v6: [["fc00::", 7]] },
  { name: "multicast", v4: [["224.0.0.0", 4]], v6: [["ff00::", 8]] },
  {
    name: "reserved",
    v4: [["240.0.0.0", 4], ["192.0.0.0", 24], ["198.18.0.0", 15]],
    // IPv4-compatible (deprecated) and site-local (deprecated)
    v6: [["::", 96], ["fec0::", 10]],
  },
];

const BLOCKS = CLASSES.map((c) => {
  const list = new BlockList();
  for (const [net, prefix] of c.v4 ?? []) list.addSubnet(net, prefix, "ipv4");
  for (const [net, prefix] of c.v6 ?? []) list.addSubnet(net, prefix, "ipv6");
  return { name: c.name, list };
});

/** The refused class of an address, or undefined when it may be reached. IPv4 inside IPv6 (mapped, NAT64, 6to4) counts as the IPv4. */
export function addressClass(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return "not an IP address";
  const embedded = family === 6 ? embeddedIPv4(address) : undefined;
  if (embedded !== undefined) return addressClass(embedded);
  const type = family === 4 ? "ipv4" : "ipv6";
  return BLOCKS.find((b) => b.list.check(address, type))?.name;
}

/** The IPv4 address inside ::ffff:a.b.c.d, 64:ff9b::/96 (NAT64) or 2002::/16 (6to4). */
function embeddedIPv4(address: string): string | undefined {
  const words = expandIPv6(address);
  if (!words) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zero(0, 5) && words[5] === 0xffff) return v4(words[6], words[7]);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6], words[7]);
  if (words[0] === 0x2002) return v4(words[1], words[2]);
  return undefined;
}

/** Eight 16-bit words of an IPv6 address (with an embedded dotted IPv4 tail), or undefined. */
function expandIPv6(address: string): number[] | undefined {
  let text = address.toLowerCase().split("%")[0];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split(".").map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : new Array(8 - left.length - right.length).fill("0");
  const words = [...left, ...fill, ...right].map((w) => Number.parseInt(w, 16));
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

interface AllowList {
  names: string[];
  suffixes: string[];
  ranges: BlockList;
}

/** Parses WEBHOOK_ALLOWED_HOSTS entries; throws on one that is neither a host name, an address nor a CIDR range. */
export function parseAllowedHosts(entries: readonly string[]): AllowList {
  const allow: AllowList = { names: [], suffixes: [], ranges: new BlockList() };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
    if (entry === "") continue;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    const ip = cidr ? cidr[1] : entry;
    const family = isIP(ip);
    if (family !== 0) {
      const prefix = cidr ? Number(cidr[2]) : family === 4 ? 32 : 128;
      if (prefix > (family === 4 ? 32 : 128)) throw new Error(`${JSON.stringify(raw)}: prefix /${prefix} is too long`);
      allow.ranges.addSubnet(ip, prefix, family === 4 ? "ipv4" : "ipv6");
    } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) allow.suffixes.push(entry.slice(1));
    else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) allow.names.push(entry);
    else throw new Error(`${JSON.stringify(raw)} is not a host name, *.domain, IP address or CIDR range`);
  }
  return allow;
}

export class DestinationPolicy {
  readonly allowPrivate: boolean;
  private readonly allow: AllowList;
  private readonly resolve: Resolver;

  constructor(options: DestinationPolicyOptions = {}) {
    this.allowPrivate = options.allowPrivate ?? false;
    this.allow = parseAllowedHosts(options.allowedHosts ?? []);
    this.resolve = options.resolve ?? systemResolver;
  }

  /**
   * Checks a webhook URL (and what its host resolves to now); returns where to connect. Throws
   * INVALID_ARGUMENT naming the address, its class and the settings that would allow it.
   */
  async check(rawUrl: string): Promise<Destination> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new FaceError("INVALID_ARGUMENT", `url: ${JSON.stringify(rawUrl)} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new FaceError("INVALID_ARGUMENT", `url: webhooks are http or https, not ${url.protocol}`);
    }
    if (this.allowPrivate) return { url: url.href };
    // The WHATWG parser already turned 2130706433, 0x7f.1 and 127.1 into 127.0.0.1.
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    const nameAllowed = this.allow.names.includes(hostname) || this.allow.suffixes.some((s) => hostname.endsWith(s));
    if (isIP(hostname) !== 0) {
      if (!nameAllowed) this.refuseInternal(rawUrl, hostname, hostname);
      return { url: url.href };
    }
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.resolve(hostname);
    } catch (cause) {
      throw new FaceError("INVALID_ARGUMENT", `url: the host ${JSON.stringify(hostname)} does not resolve (${(cause as Error).message})`, { cause });
    }
    if (addresses.length === 0) throw new FaceError("INVALID_ARGUMENT", `url: the host ${JSON.stringify(hostname)} has no address`);
    // Every address the name has must pass: a resolver may hand out any of them.
    if (!nameAllowed) for (const a of addresses) this.refuseInternal(rawUrl, hostname, a.address);
    const chosen = addresses[0];
    const pinned = new URL(url.href);
    pinned.hostname = chosen.family === 6 ? `[${chosen.address}]` : chosen.address;
    return { url: pinned.href, host: url.host, ...(url.protocol === "https:" ? { serverName: hostname } : {}) };
  }

  private refuseInternal(rawUrl: string, hostname: string, address: string): void {
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (this.allow.ranges.check(address, type)) return;
    const refused = addressClass(address);
    if (refused === undefined) return;
    const via = hostname === address ? "" : ` (${hostname} resolves to it)`;
    throw new FaceError(
      "INVALID_ARGUMENT",
      `url: webhooks may not reach ${address}, a ${refused} address${via}: ${SETTINGS_HINT}`,
      { details: { url: rawUrl, address, addressClass: refused, settings: ["WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_ALLOWED_HOSTS"] } },
    );
  }
}

/** The policy of an integration's settings (WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOWED_HOSTS). */
export function destinationPolicyFor(
  config: { webhookAllowPrivate: boolean; webhookAllowedHosts: readonly string[] },
  resolve?: Resolver,
): DestinationPolicy {
  return new DestinationPolicy({ allowPrivate: config.webhookAllowPrivate, allowedHosts: config.webhookAllowedHosts, resolve });
}
