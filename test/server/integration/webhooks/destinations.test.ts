/**
 * Webhook SSRF: a company's manage key must not make the server POST to loopback, the LAN, link-local
 * or a cloud metadata service. Each class is refused by PUT .../webhook with a 400 naming the
 * settings, IP literals and host names alike (after DNS resolution); allowed when configured; and a
 * DNS answer that changes after the URL was accepted cannot send a delivery to an internal address
 * (the delivery re-checks and connects to the address it checked).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { loadIntegrationConfig } from "../../../../server/integration/config.ts";
import { ConfigError } from "../../../../server/config/server.ts";
import { addressClass, DestinationPolicy, type ResolvedAddress } from "../../../../server/integration/webhooks/destinations.ts";
import { b64, sample, startTestServer, type TestServer } from "../../harness.ts";

const ADMIN = "k-admin-ssrf-0123456789";
const ACME = "k-acme-ssrf-0123456789";
const SECRET = "s3cret-s3cret-s3cret";

/** A scripted DNS: each name answers what the test says, now. */
function scriptedDns(initial: Record<string, string[]>) {
  const table = new Map(Object.entries(initial));
  const asked: string[] = [];
  return {
    asked,
    set(name: string, addresses: string[]) {
      table.set(name, addresses);
    },
    resolve: async (name: string): Promise<ResolvedAddress[]> => {
      asked.push(name);
      const found = table.get(name);
      if (!found) throw new Error(`ENOTFOUND ${name}`);
      return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, ms = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

const put = (srv: TestServer, url: string) => srv.call("PUT", "/v1/companies/acme/webhook", { key: ACME, json: { url, secret: SECRET } });

describe("webhook URLs to internal addresses are refused (default settings)", () => {
  let srv: TestServer;
  const dns = scriptedDns({
    "hooks.example.com": ["93.184.216.34"],
    "metadata.evil.example": ["169.254.169.254"],
    "lan.evil.example": ["192.168.1.20"],
    "v6.evil.example": ["fd00:ec2::254"],
    "mixed.evil.example": ["93.184.216.34", "10.0.0.5"],
  });
  beforeAll(async () => {
    srv = await startTestServer({
      integration: { webhookAllowPrivate: false },
      destinations: new DestinationPolicy({ resolve: dns.resolve }),
      keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] }),
    });
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  const cases: Array<[string, string, string]> = [
    ["loopback", "http://127.0.0.1:9/hook", "loopback"],
    ["loopback, another of 127/8", "http://127.8.9.10/hook", "loopback"],
    ["loopback as a decimal number", "http://2130706433/hook", "loopback"],
    ["IPv6 loopback", "http://[::1]:9/hook", "loopback"],
    ["IPv4-mapped IPv6 loopback", "http://[::ffff:127.0.0.1]/hook", "loopback"],
    ["unspecified", "http://0.0.0.0:9/hook", "unspecified"],
    ["RFC 1918 10/8", "http://10.1.2.3/hook", "private (RFC 1918)"],
    ["RFC 1918 172.16/12", "http://172.20.0.1/hook", "private (RFC 1918)"],
    ["RFC 1918 192.168/16", "https://192.168.0.10/hook", "private (RFC 1918)"],
    ["CGNAT", "http://100.64.1.1/hook", "shared (CGNAT, RFC 6598)"],
    ["link-local", "http://169.254.10.20/hook", "link-local"],
    ["IPv6 link-local", "http://[fe80::1]/hook", "link-local"],
    ["IPv6 unique-local", "http://[fd12:3456:789a::1]/hook", "unique-local (IPv6 ULA)"],
    ["metadata (AWS, GCP, Azure)", "http://169.254.169.254/latest/meta-data/", "cloud metadata"],
    ["metadata over IPv6 (AWS)", "http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"],
    ["metadata (Alibaba)", "http://100.100.100.200/latest/meta-data/", "cloud metadata"],
    ["a host name resolving to loopback (localhost, system resolver)", "http://localhost:9/hook", "loopback"],
    ["a host name resolving to metadata", "http://metadata.evil.example/latest", "cloud metadata"],
    ["a host name resolving to the LAN", "https://lan.evil.example/hook", "private (RFC 1918)"],
    ["a host name resolving to IPv6 metadata", "http://v6.evil.example/", "cloud metadata"],
    ["a host name with one public and one private address", "http://mixed.evil.example/", "private (RFC 1918)"],
  ];
  for (const [what, url, cls] of cases) {
    test(`${what}: ${url} → 400 naming WEBHOOK_ALLOW_PRIVATE / WEBHOOK_ALLOWED_HOSTS`, async () => {
      // localhost goes through the system resolver (/etc/hosts): a policy without the scripted DNS
      const target = url.includes("localhost") ? await startWithSystemDns() : srv;
      const r = await put(target, url);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("INVALID_ARGUMENT");
      expect(r.body.error.message).toContain(`a ${cls} address`);
      expect(r.body.error.message).toContain("WEBHOOK_ALLOW_PRIVATE=true");
      expect(r.body.error.message).toContain("WEBHOOK_ALLOWED_HOSTS");
      // nothing was stored
      expect((await target.call("GET", "/v1/companies/acme/webhook", { key: ACME })).status).toBe(404);
    });
  }

  test("public destinations are accepted (an IP literal, a name resolving to a public address)", async () => {
    expect((await put(srv, "https://93.184.216.34/hook")).status).toBe(200);
    expect((await put(srv, "https://hooks.example.com/hook")).status).toBe(200);
    expect((await put(srv, "http://[2606:4700:4700::1111]/hook")).status).toBe(200);
    expect((await srv.call("DELETE", "/v1/companies/acme/webhook", { key: ACME })).status).toBe(200);
  });

  test("a host that does not resolve is a 400 too (nothing to check, nothing to deliver to)", async () => {
    const r = await put(srv, "https://nowhere.invalid/hook");
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain("does not resolve");
  });

  let systemDnsServer: TestServer | undefined;
  async function startWithSystemDns(): Promise<TestServer> {
    if (!systemDnsServer) {
      systemDnsServer = await startTestServer({
        integration: { webhookAllowPrivate: false },
        keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] }),
      });
      await systemDnsServer.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } });
    }
    return systemDnsServer;
  }
  afterAll(async () => {
    await systemDnsServer?.stop();
  });
});

describe("allowed when the operator says so", () => {
  test("WEBHOOK_ALLOW_PRIVATE=true: loopback, LAN and metadata URLs are accepted", async () => {
    const policy = new DestinationPolicy({ allowPrivate: true });
    for (const url of ["http://127.0.0.1:9/h", "http://10.0.0.1/h", "http://169.254.169.254/", "http://[::1]/h", "http://localhost:9/h"]) {
      expect(await policy.check(url)).toEqual({ url: new URL(url).href });
    }
  });

  test("WEBHOOK_ALLOWED_HOSTS: a named host, a *.domain, an address and a CIDR range get through; neighbours do not", async () => {
    const dns = scriptedDns({ "hooks.corp": ["10.0.5.7"], "a.svc.corp": ["10.9.9.9"], "other.corp": ["10.0.6.1"] });
    const policy = new DestinationPolicy({ allowedHosts: ["hooks.corp", "*.svc.corp", "192.168.1.50", "10.0.5.0/24", "fd00:1::/64"], resolve: dns.resolve });
    expect((await policy.check("http://hooks.corp/h")).url).toBe("http://10.0.5.7/h");
    expect((await policy.check("https://a.svc.corp/h")).serverName).toBe("a.svc.corp");
    expect((await policy.check("http://192.168.1.50/h")).url).toBe("http://192.168.1.50/h");
    expect((await policy.check("http://10.0.5.200/h")).url).toBe("http://10.0.5.200/h");
    expect((await policy.check("http://[fd00:1::9]/h")).url).toBe("http://[fd00:1::9]/h");
    await expect(policy.check("http://192.168.1.51/h")).rejects.toThrow(/a private \(RFC 1918\) address/);
    await expect(policy.check("http://other.corp/h")).rejects.toThrow(/10\.0\.6\.1, a private/);
    await expect(policy.check("http://127.0.0.1/h")).rejects.toThrow(/loopback/);
    await expect(policy.check("http://[fd00:2::1]/h")).rejects.toThrow(/unique-local/);
  });

  test("the settings are read from the environment, and a bad entry is a configuration error naming it", () => {
    const c = loadIntegrationConfig({ WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_ALLOWED_HOSTS: "hooks.corp, 10.0.0.0/8,*.svc.corp" });
    expect(c.webhookAllowPrivate).toBe(true);
    expect(c.webhookAllowedHosts).toEqual(["hooks.corp", "10.0.0.0/8", "*.svc.corp"]);
    expect(loadIntegrationConfig({}).webhookAllowPrivate).toBe(false);
    const bad = (env: Record<string, string>) => {
      try {
        loadIntegrationConfig(env);
      } catch (error) {
        return (error as ConfigError).problems.join("\n");
      }
      return "";
    };
    expect(bad({ WEBHOOK_ALLOW_PRIVATE: "maybe" })).toContain("WEBHOOK_ALLOW_PRIVATE");
    expect(bad({ WEBHOOK_ALLOWED_HOSTS: "ok.corp,http://x/" })).toMatch(/WEBHOOK_ALLOWED_HOSTS.*http:\/\/x\//);
    expect(bad({ WEBHOOK_ALLOWED_HOSTS: "10.0.0.0/40" })).toContain("/40 is too long");
  });

  test("address classes: IPv4 inside IPv6 (mapped, NAT64, 6to4) is judged as the IPv4", () => {
    expect(addressClass("::ffff:10.0.0.1")).toBe("private (RFC 1918)");
    expect(addressClass("64:ff9b::a9fe:a9fe")).toBe("cloud metadata");
    expect(addressClass("2002:7f00:1::")).toBe("loopback");
    expect(addressClass("::ffff:8.8.8.8")).toBeUndefined();
    expect(addressClass("8.8.8.8")).toBeUndefined();
  });
});

describe("at delivery: re-checked after DNS, sent to the checked address", () => {
  // The receiver the URL was accepted for (127.0.0.2, allowed by range), and an internal service
  // on 127.0.0.1 that a rebinding DNS answer would point the delivery at.
  const got: Array<{ host: string | null; to: string }> = [];
  const intended = Bun.serve({
    port: 0,
    hostname: "127.0.0.2",
    async fetch(req) {
      await req.text();
      got.push({ host: req.headers.get("host"), to: "intended" });
      return new Response("ok");
    },
  });
  const internal = Bun.serve({
    port: intended.port,
    hostname: "127.0.0.1",
    async fetch(req) {
      await req.text();
      got.push({ host: req.headers.get("host"), to: "internal" });
      return new Response("ok");
    },
  });
  const dns = scriptedDns({ "hooks.partner.example": ["127.0.0.2"] });
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      integration: { webhookAllowPrivate: false, retryBaseMs: 50, retryMaxMs: 200 },
      destinations: new DestinationPolicy({ allowedHosts: ["127.0.0.2/32"], resolve: dns.resolve }),
      keys: new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] }),
    });
    await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "acme" } });
    // an identification is what gets recorded and delivered
    expect((await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: "ann", face_id: "f1", image: b64(sample(1)) } })).status).toBe(201);
  });
  afterAll(async () => {
    await srv?.stop();
    await intended.stop(true);
    await internal.stop(true);
  });
  const record = async () => {
    const id = (await srv.call("POST", "/v1/companies/acme/recognize", { key: ACME, json: { image: b64(sample(1)), record: true } })).body.event_id as string;
    expect(id).toBeString();
    return id;
  };
  const status = async () => (await srv.call("GET", "/v1/companies/acme/webhook", { key: ACME })).body;

  test("delivered to the checked address with the name in Host (the name itself is not in any DNS the fetch could ask)", async () => {
    expect((await put(srv, `http://hooks.partner.example:${intended.port}/hook`)).status).toBe(200);
    const asked = dns.asked.length;
    await record();
    await until(() => got.length > 0, 20_000, "the first delivery");
    expect(got).toEqual([{ host: `hooks.partner.example:${intended.port}`, to: "intended" }]);
    // resolved again for the delivery, once
    expect(dns.asked.length).toBe(asked + 1);
  });

  test("the name now resolves to 127.0.0.1 (rebinding): the delivery is refused, the internal service gets nothing", async () => {
    got.length = 0;
    dns.set("hooks.partner.example", ["127.0.0.1"]);
    await record();
    await until(async () => ((await status()).last_error ?? "").includes("127.0.0.1"), 20_000, "the refused delivery");
    const s = await status();
    expect(s.last_error).toContain("a loopback address (hooks.partner.example resolves to it)");
    expect(s.last_error).toContain("WEBHOOK_ALLOW_PRIVATE");
    expect(s.pending).toBeGreaterThanOrEqual(1);
    expect(got.filter((g) => g.to === "internal")).toEqual([]);
    // the name points back at the allowed address: the retry delivers it
    dns.set("hooks.partner.example", ["127.0.0.2"]);
    await until(async () => (await status()).pending === 0, 20_000, "the retried delivery");
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((g) => g.to === "intended")).toBe(true);
  });
});
