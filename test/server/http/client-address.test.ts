/** TRUST_PROXY: whose X-Forwarded-For is believed, and which address is the client. */
import { describe, expect, test } from "bun:test";
import { clientAddress } from "../../../server/http/client-address.ts";
import { parseTrustProxy } from "../../../server/config/trust-proxy.ts";
import { loadServerConfig, ConfigError } from "../../../server/config/server.ts";

describe("clientAddress", () => {
  test("default (no TRUST_PROXY): the socket peer, whatever the header says", () => {
    const none = parseTrustProxy(undefined);
    expect(clientAddress("10.0.0.9", "1.2.3.4", none)).toBe("10.0.0.9");
    expect(clientAddress("::ffff:10.0.0.9", null, none)).toBe("10.0.0.9");
    expect(parseTrustProxy("false")).toEqual(none);
  });

  test("a hop count: the address the last trusted proxy saw; a client's own header entries are never picked", () => {
    const one = parseTrustProxy("1");
    expect(clientAddress("127.0.0.1", "203.0.113.7", one)).toBe("203.0.113.7");
    // the client sent "X-Forwarded-For: 6.6.6.6"; nginx appended the real address
    expect(clientAddress("127.0.0.1", "6.6.6.6, 203.0.113.7", one)).toBe("203.0.113.7");
    const two = parseTrustProxy("2");
    expect(clientAddress("10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.1", two)).toBe("203.0.113.7");
    // fewer entries than hops: the leftmost there is
    expect(clientAddress("10.0.0.2", "203.0.113.7", parseTrustProxy("3"))).toBe("203.0.113.7");
    // a garbage entry where the client should be: the peer
    expect(clientAddress("127.0.0.1", "not-an-ip", one)).toBe("127.0.0.1");
  });

  test("proxy ranges: skip trusted proxies from the right; the first untrusted address is the client", () => {
    const ranges = parseTrustProxy("127.0.0.1, 10.0.0.0/8, fd00::/8");
    expect(clientAddress("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3", ranges)).toBe("203.0.113.7");
    expect(clientAddress("fd00::5", "2001:db8::1", ranges)).toBe("2001:db8::1");
    // a direct connection from outside the ranges: its header is not believed
    expect(clientAddress("198.51.100.4", "6.6.6.6", ranges)).toBe("198.51.100.4");
    // only proxies (the proxy's own health check): the leftmost
    expect(clientAddress("127.0.0.1", "10.0.0.1", ranges)).toBe("10.0.0.1");
    expect(clientAddress("127.0.0.1", "junk, 10.0.0.1", ranges)).toBe("10.0.0.1");
  });

  test("TRUST_PROXY is checked at start", () => {
    expect(loadServerConfig({ TRUST_PROXY: "1" }).trustProxy).toBe("1");
    expect(loadServerConfig({}).trustProxy).toBe("");
    for (const bad of ["proxy.lan", "10.0.0.0/33", "99"]) {
      try {
        loadServerConfig({ TRUST_PROXY: bad });
        throw new Error(`accepted ${bad}`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).problems.join()).toContain("TRUST_PROXY");
      }
    }
  });
});
