/**
 * Bad input of every kind at every route (malformed JSON, wrong types, truncated and garbage
 * images, empty bodies, broken HTTP on the socket): each gets a 4xx in the error shape, nothing
 * crashes the server, and the gallery is unchanged afterwards.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { b64, rawHttp, startTestServer, type TestServer, sample } from "../harness.ts";

const group1 = sample(1);
const group2 = sample(2);
let srv: TestServer;
let before: { stats: unknown; faces: unknown };

async function snapshot() {
  const stats = (await srv.call("GET", "/v1/stats?detail=companies")).body;
  return {
    stats: { ...stats, uptime_seconds: 0, total_tasks_processed: 0 },
    faces: (await srv.call("GET", "/v1/companies/acme/users/alice/faces")).body,
  };
}

beforeAll(async () => {
  srv = await startTestServer({ sqlite: true, config: { maxBodyBytes: 1024 * 1024 } });
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
  expect((await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "alice", face_id: "a1", image: b64(group1) } })).status).toBe(201);
  expect((await srv.call("POST", "/v1/companies/acme/users/alice/faces", { json: { face_id: "a2", image: b64(group2) } })).status).toBe(201);
  before = await snapshot();
});
afterAll(async () => {
  await srv?.stop();
});

const ROUTES: Array<[string, string]> = [
  ["POST", "/v1/companies"],
  ["POST", "/v1/companies/acme/users"],
  ["POST", "/v1/companies/acme/users/alice/faces"],
  ["POST", "/v1/companies/acme/recognize"],
  ["POST", "/v1/detect"],
  ["POST", "/v1/embed"],
  ["POST", "/v1/compare"],
  ["POST", "/v1/verify"],
  ["POST", "/v1/verify/batch"],
];

const truncated = group1.subarray(0, Math.floor(group1.length / 2));
const garbage = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
const jpegHeaderOnly = group1.subarray(0, 600);

const BAD_BODIES: Array<{ name: string; body: BodyInit; type: string }> = [
  { name: "malformed JSON", body: '{"image": "abc', type: "application/json" },
  { name: "JSON string", body: '"hello"', type: "application/json" },
  { name: "JSON number", body: "42", type: "application/json" },
  { name: "empty JSON body", body: "", type: "application/json" },
  { name: "empty object", body: "{}", type: "application/json" },
  { name: "wrong types", body: JSON.stringify({ company_id: [], user_id: {}, face_id: 1, image: 5, image1: true, image2: null, pairs: "x", query_embedding: {}, reference_embeddings: 3, all_faces: "maybe" }), type: "application/json" },
  { name: "NaN in embeddings", body: '{"query_embedding":[NaN],"reference_embeddings":[]}', type: "application/json" },
  { name: "deeply nested JSON", body: `${"[".repeat(50_000)}${"]".repeat(50_000)}`, type: "application/json" },
  { name: "proto pollution", body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"company_id":""}', type: "application/json" },
  { name: "invalid UTF-8", body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), type: "application/json" },
  { name: "garbage base64 image", body: JSON.stringify({ user_id: "x", face_id: "y", image: "@@@@", image1: "@@", image2: "!!", pairs: [{ image1: "@", image2: "@" }], company_id: "" }), type: "application/json" },
  { name: "truncated JPEG (base64)", body: JSON.stringify({ user_id: "t", face_id: "t", image: b64(truncated), image1: b64(truncated), image2: b64(truncated) }), type: "application/json" },
  { name: "JPEG header only", body: jpegHeaderOnly, type: "image/jpeg" },
  { name: "garbage bytes as image", body: garbage, type: "image/jpeg" },
  { name: "truncated JPEG bytes", body: truncated, type: "image/jpeg" },
  { name: "empty raw body", body: new Uint8Array(0), type: "image/png" },
  { name: "bad multipart", body: "--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nxx", type: "multipart/form-data; boundary=b" },
  { name: "multipart without boundary", body: "whatever", type: "multipart/form-data" },
  { name: "form-urlencoded", body: "company_id=x", type: "application/x-www-form-urlencoded" },
];

test("every bad body at every route: a 4xx in the error shape", async () => {
  const failures: string[] = [];
  for (const [method, path] of ROUTES) {
    for (const bad of BAD_BODIES) {
      const r = await srv.call(method, path, { body: bad.body, headers: { "Content-Type": bad.type } });
      const refused = r.status >= 400 && r.status < 500 && typeof r.body?.error?.code === "string" && typeof r.body.error.message === "string";
      // verify/batch answers a well-formed body with per-pair errors inline
      const inline = path === "/v1/verify/batch" && r.status === 200 && r.body.results.every((x: { ok: boolean }) => !x.ok);
      const ok = refused || inline;
      if (!ok) failures.push(`${method} ${path} [${bad.name}] → ${r.status} ${r.text.slice(0, 120)}`);
    }
  }
  expect(failures).toEqual([]);
});

test("truncated multipart image part and garbage file parts", async () => {
  for (const bytes of [truncated, garbage, new Uint8Array(0)]) {
    const form = new FormData();
    form.set("user_id", "mp");
    form.set("face_id", "mp");
    form.set("image", new Blob([bytes]), "x.jpg");
    const r = await srv.call("POST", "/v1/companies/acme/users", { body: form });
    expect(r.status).toBe(400);
    expect(["INVALID_IMAGE", "INVALID_ARGUMENT"]).toContain(r.body.error.code);
  }
});

test("many bad requests at once do not crash the server", async () => {
  const all = [];
  for (let i = 0; i < 60; i++) {
    const bad = BAD_BODIES[i % BAD_BODIES.length];
    const [method, path] = ROUTES[i % ROUTES.length];
    all.push(srv.call(method, path, { body: bad.body, headers: { "Content-Type": bad.type } }));
  }
  const replies = await Promise.all(all);
  expect(replies.every((r) => r.status >= 400 && r.status < 500)).toBe(true);
});

test("broken HTTP on the socket: garbage, truncated bodies, abandoned requests", async () => {
  await rawHttp(srv.url, "GARBAGE\r\n\r\n", 500);
  await rawHttp(srv.url, new Uint8Array(2000).map((_, i) => i % 256), 500);
  // Content-Length promises more than is sent, then the client goes away
  await rawHttp(
    srv.url,
    'POST /v1/companies HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"company_id": "half',
    300,
  );
  await rawHttp(srv.url, `POST /v1/companies/acme/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\nContent-Length: ${group1.length}\r\n\r\n`, 300);
  // headers never finished
  await rawHttp(srv.url, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-A: b", 300);
  // a NUL in the path
  const nul = await rawHttp(srv.url, "GET /v1/companies/a%00b/users/c/faces HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 1000);
  expect(nul).toMatch(/^HTTP\/1\.1 400/);
  expect((await srv.call("GET", "/v1/health")).status).toBe(200);
});

test("a client that aborts mid-request does not disturb the server", async () => {
  const controller = new AbortController();
  const pending = fetch(`${srv.url}/v1/companies/acme/recognize`, {
    method: "POST",
    headers: { "Content-Type": "image/jpeg" },
    body: group1,
    signal: controller.signal,
  }).catch((e: unknown) => e);
  setTimeout(() => controller.abort(), 5);
  await pending;
  expect((await srv.call("GET", "/v1/health")).status).toBe(200);
});

test("the gallery is unchanged and recognition still works", async () => {
  expect(await snapshot()).toEqual(before);
  const r = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(group1) } });
  expect(r.body.user_id).toBe("alice");
  // alice's template is the mean of her two faces (group1's and group2's largest, two different people)
  expect(r.body.confidence).toBeGreaterThan(0.7);
});
