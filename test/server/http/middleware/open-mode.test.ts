/**
 * Open mode (no keys) against cross-site requests and DNS rebinding, over real sockets: a
 * cross-origin multipart POST is refused and changes nothing; same-origin and non-browser
 * clients work; Host names other than localhost and IP literals are refused unless listed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hostAllowed } from "../../../../server/http/middleware/host.ts";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { rawHttp, sample, startTestServer, type TestServer } from "../../harness.ts";

let srv: TestServer;
let own: string;
beforeAll(async () => {
  srv = await startTestServer({ config: { corsOrigins: ["https://app.example.com"] } });
  own = srv.url; // http://127.0.0.1:<port>
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
});
afterAll(async () => {
  await srv?.stop();
});

const enrollForm = (userId: string) => {
  const form = new FormData();
  form.set("user_id", userId);
  form.set("face_id", "f1");
  form.set("image", new Blob([sample(1)], { type: "image/jpeg" }), "face.jpg");
  return form;
};
const users = async () => (await srv.call("GET", "/v1/stats?detail=companies")).body.companies.acme.users as number;

describe("cross-origin requests in open mode (Hono csrf + Origin check)", () => {
  test("a cross-origin multipart POST (a form on another site) is refused and enrolls nobody", async () => {
    const before = await users();
    const r = await srv.call("POST", "/v1/companies/acme/users", { body: enrollForm("mallory"), headers: { Origin: "http://evil.example" } });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("FORBIDDEN");
    expect(r.body.error.message).toMatch(/cross-origin/);
    // Sec-Fetch-Site alone (a browser that sends no Origin)
    const site = await srv.call("POST", "/v1/companies/acme/users", { body: enrollForm("mallory"), headers: { "Sec-Fetch-Site": "cross-site" } });
    expect(site.status).toBe(403);
    // text/plain and no Content-Type at all: what a page can send without a preflight
    for (const headers of [{ "Content-Type": "text/plain" }, {}] as Record<string, string>[]) {
      const res = await fetch(`${own}/v1/companies/acme`, { method: "DELETE", headers: { ...headers, Origin: "http://evil.example" } });
      expect(res.status).toBe(403);
      const post = await fetch(`${own}/v1/companies`, { method: "POST", body: new Blob(['{"company_id":"evil"}']), headers: { ...headers, Origin: "http://evil.example" } });
      expect(post.status).toBe(403);
    }
    // JSON from another origin, too (a browser would preflight; no need to rely on it)
    const json = await srv.call("DELETE", "/v1/companies/acme", { headers: { Origin: "http://evil.example", "Content-Type": "application/json" } });
    expect(json.status).toBe(403);
    expect(await users()).toBe(before);
    expect((await srv.call("GET", "/v1/companies/acme/users/mallory/faces")).body.face_ids).toEqual([]);
  });

  test("same-origin pages, CORS_ORIGINS and non-browser clients (no Origin) work", async () => {
    const same = await srv.call("POST", "/v1/companies/acme/users", { body: enrollForm("ann"), headers: { Origin: own, "Sec-Fetch-Site": "same-origin" } });
    expect(same.status).toBe(201);
    const listed = await srv.call("POST", "/v1/companies/acme/users/ann/faces", { body: (() => { const f = enrollForm("ann"); f.set("face_id", "f2"); f.delete("user_id"); return f; })(), headers: { Origin: "https://app.example.com" } });
    expect(listed.status).toBe(201);
    const curl = await srv.call("POST", "/v1/companies/acme/users", { body: enrollForm("bob") });
    expect(curl.status).toBe(201);
    // safe methods are not refused for their Origin (reading is what CORS governs)
    expect((await srv.call("GET", "/v1/companies/acme/users/ann/faces", { headers: { Origin: "http://evil.example" } })).status).toBe(200);
  });

  test("the kiosk WebSocket upgrade from another origin is refused (browsers do not apply the same-origin policy to WebSockets)", async () => {
    const headers = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" };
    const evil = await fetch(`${own}/v1/kiosk/ws?company=acme`, { headers: { ...headers, Origin: "http://evil.example" } });
    expect(evil.status).toBe(403);
  });
});

describe("Host allow-list against DNS rebinding", () => {
  const get = (host: string) => rawHttp(own, `GET /v1/stats HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 1000);
  test("open mode: localhost and IP literals only; a rebound name is refused", async () => {
    const port = new URL(own).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`, "192.168.1.20:8080", "app.localhost"]) {
      expect({ host, answer: (await get(host)).slice(0, 12) }).toEqual({ host, answer: "HTTP/1.1 200" });
    }
    for (const host of [`evil.example:${port}`, "rebind.attacker.test", "kiosk-box"]) {
      const answer = await get(host);
      expect({ host, answer: answer.slice(0, 12) }).toEqual({ host, answer: "HTTP/1.1 403" });
      expect(answer).toContain("DNS rebinding");
    }
  });
  test("ALLOWED_HOSTS adds names (and applies with keys too); with keys and no list there is no check", async () => {
    const listed = await startTestServer({ config: { allowedHosts: ["kiosk.example.com", "*.corp.example"] } });
    const keyed = await startTestServer({ keys: new ApiKeys({ "admin-key-0001": ["*"] }), config: { allowedHosts: ["api.example.com"] } });
    const keyedNoList = await startTestServer({ keys: new ApiKeys({ "admin-key-0001": ["*"] }) });
    try {
      const at = (url: string, host: string, key = "") =>
        rawHttp(url, `GET /v1/companies/a/users/b/faces HTTP/1.1\r\nHost: ${host}\r\n${key ? `X-API-Key: ${key}\r\n` : ""}Connection: close\r\n\r\n`, 1000).then((a) => a.slice(9, 12));
      expect(await at(listed.url, "kiosk.example.com")).toBe("200");
      expect(await at(listed.url, "a.corp.example:8080")).toBe("200");
      expect(await at(listed.url, "evil.example")).toBe("403");
      expect(await at(keyed.url, "api.example.com", "admin-key-0001")).toBe("200");
      expect(await at(keyed.url, "evil.example", "admin-key-0001")).toBe("403");
      expect(await at(keyedNoList.url, "anything.example", "admin-key-0001")).toBe("200");
    } finally {
      await listed.stop();
      await keyed.stop();
      await keyedNoList.stop();
    }
  });
  test("units: hostAllowed", () => {
    expect(hostAllowed("LOCALHOST:8080", [], true)).toBe(true);
    expect(hostAllowed("10.0.0.5", [], true)).toBe(true);
    expect(hostAllowed("10.0.0.5", [], false)).toBe(false);
    expect(hostAllowed("x.example:9", ["x.example:8"], false)).toBe(false);
    expect(hostAllowed("x.example:8", ["x.example:8"], false)).toBe(true);
    expect(hostAllowed("corp.example", ["*.corp.example"], false)).toBe(false);
  });
});
