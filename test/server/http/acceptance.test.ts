/**
 * Black-box API acceptance: the real server process (`bun server/main.ts`, embedded mode, SQLite,
 * API keys in both formats) over HTTP only. Every route with its scope and its error codes, the
 * kiosk WebSocket's authentication, and the failed-key back-off last (it blocks this address).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERROR_CODES, HTTP_STATUS } from "../../../lib/core/mod.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { b64, blankJpeg, call, sample, tooWidePng, type CallInit, type Reply } from "../harness.ts";

const K = {
  admin: "acc-admin-key-0001",
  legacy: "acc-legacy-acme-0001", // ["acme"]: every operation on acme
  kiosk: "acc-kiosk-acme-0001",
  enroll: "acc-enroll-acme-0001",
  manage: "acc-manage-acme-0001",
  beta: "acc-beta-key-0001",
  /** Never used before the back-off test. */
  spare: "acc-spare-key-0001",
};
const API_KEYS = {
  [K.admin]: ["*"],
  [K.legacy]: ["acme"],
  [K.kiosk]: { companies: ["acme"], scopes: ["recognize"] },
  [K.enroll]: { companies: ["acme"], scopes: ["enroll"] },
  [K.manage]: { companies: ["acme"], scopes: ["manage"] },
  [K.beta]: ["beta"],
  [K.spare]: ["acme"],
};

let srv: ServerProcess;
let dir: string;
const face = sample(1);
let req: (method: string, path: string, init?: CallInit) => Promise<Reply>;

/** A documented error: the status of its code, `{error: {code, message}}`. */
function expectError(r: Reply, code: string): void {
  expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status: HTTP_STATUS[code as keyof typeof HTTP_STATUS], code });
  expect(typeof r.body.error.message).toBe("string");
  expect(ERROR_CODES).toContain(r.body.error.code);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "facegate-acceptance-"));
  srv = await startServerProcess(
    { DATA_DIR: dir, API_KEYS: JSON.stringify(API_KEYS), MAX_BODY_BYTES: "4mb", AUTH_FAIL_LIMIT: "25", FACE_ENGINE_WORKERS: "2" },
    { timeoutMs: 90_000 },
  );
  req = (method, path, init) => call(srv.url, method, path, init);
}, 120_000);
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("public routes", () => {
  test("health (status only without an admin key), openapi, docs, root", async () => {
    const h = await req("GET", "/v1/health");
    expect(h.status).toBe(200);
    expect(["healthy", "ok"]).toContain(h.body.status);
    expect((await req("GET", "/openapi.json")).body.openapi).toMatch(/^3\./);
    expect((await req("GET", "/docs")).status).toBe(200);
    expect((await req("GET", "/")).status).toBe(200);
    expectError(await req("GET", "/v1/nowhere"), "NOT_FOUND");
  });
});

describe("every documented route refuses a missing key (401) and a key for another company (403)", () => {
  test("from /openapi.json", async () => {
    const doc = (await req("GET", "/openapi.json")).body as { paths: Record<string, Record<string, { "x-scope"?: string }>> };
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const scope = op["x-scope"];
        const concrete = path.replace("{company}", "acme").replace(/\{[^}]+\}/g, "x");
        const json = method === "get" || method === "delete" ? undefined : {};
        const none = await req(method.toUpperCase(), concrete, { json });
        if (scope === "public") {
          expect({ path, status: none.status }).not.toEqual({ path, status: 401 });
          continue;
        }
        // The compatibility routes (/api/v1/*) answer in their guide's shape: {error, error_code}.
        const code = (r: Reply) => r.body?.error?.code ?? r.body?.error_code;
        expect({ path, method, status: none.status, code: code(none) }).toEqual({ path, method, status: 401, code: "UNAUTHORIZED" });
        if (path.includes("{company}") && scope !== "any") {
          const other = await req(method.toUpperCase(), concrete, { key: K.beta, json });
          expect({ path, method, status: other.status, code: code(other) }).toEqual({ path, method, status: 403, code: "FORBIDDEN" });
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe("companies, users, faces: scopes and error codes", () => {
  test("create company: manage scope (the body's company), idempotent, validated", async () => {
    expectError(await req("POST", "/v1/companies", { json: { company_id: "acme" } }), "UNAUTHORIZED");
    expectError(await req("POST", "/v1/companies", { key: "not-a-valid-key-01", json: { company_id: "acme" } }), "UNAUTHORIZED");
    expectError(await req("POST", "/v1/companies", { key: K.kiosk, json: { company_id: "acme" } }), "FORBIDDEN");
    expectError(await req("POST", "/v1/companies", { key: K.enroll, json: { company_id: "acme" } }), "FORBIDDEN");
    expectError(await req("POST", "/v1/companies", { key: K.manage, json: { company_id: "beta" } }), "FORBIDDEN");
    const created = await req("POST", "/v1/companies", { key: K.manage, json: { company_id: "acme" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ company_id: "acme", created: true });
    expect((await req("POST", "/v1/companies", { key: K.legacy, json: { company_id: "acme" } })).status).toBe(200);
    expect((await req("POST", "/v1/companies", { key: K.admin, json: { company_id: "beta" } })).status).toBe(201);
    expectError(await req("POST", "/v1/companies", { key: K.admin, json: {} }), "INVALID_ARGUMENT");
    expectError(await req("POST", "/v1/companies", { key: K.admin, body: "{oops", headers: { "Content-Type": "application/json" } }), "INVALID_ARGUMENT");
    expectError(await req("POST", "/v1/companies", { key: K.admin, body: "x", headers: { "Content-Type": "text/csv" } }), "INVALID_ARGUMENT");
  });

  test("create user: enroll scope; USER_EXISTS, COMPANY_NOT_FOUND, NO_FACE, INVALID_IMAGE, IMAGE_TOO_LARGE, PAYLOAD_TOO_LARGE", async () => {
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.kiosk, json: { user_id: "ann", face_id: "f1", image: b64(face) } }), "FORBIDDEN");
    const ann = await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "ann", face_id: "f1", image: b64(face), return_embedding: true } });
    expect(ann.status).toBe(201);
    expect(ann.body.embedding).toHaveLength(512);
    expect(ann.body.bbox).toHaveLength(4);
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "ann", face_id: "f9", image: b64(face) } }), "USER_EXISTS");
    expectError(await req("POST", "/v1/companies/ghost/users", { key: K.admin, json: { user_id: "x", face_id: "f", image: b64(face) } }), "COMPANY_NOT_FOUND");
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "blank", face_id: "f", image: b64(await blankJpeg()) } }), "NO_FACE");
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "junk", face_id: "f", image: b64(new Uint8Array(500).fill(3)) } }), "INVALID_IMAGE");
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "wide", face_id: "f", image: b64(await tooWidePng()) } }), "IMAGE_TOO_LARGE");
    const big = new Uint8Array(5 * 1024 * 1024);
    expectError(await req("POST", "/v1/companies/acme/users?user_id=big&face_id=f", { key: K.enroll, body: big, headers: { "Content-Type": "image/jpeg" } }), "PAYLOAD_TOO_LARGE");
    expectError(await req("POST", "/v1/companies/acme/users", { key: K.enroll, json: { user_id: "", face_id: "f", image: b64(face) } }), "INVALID_ARGUMENT");
  });

  test("faces: list and add with enroll scope; FACE_EXISTS, USER_NOT_FOUND; kiosk keys read nothing", async () => {
    expect((await req("GET", "/v1/companies/acme/users/ann/faces", { key: K.enroll })).body).toEqual({ face_ids: ["f1"] });
    expectError(await req("GET", "/v1/companies/acme/users/ann/faces", { key: K.kiosk }), "FORBIDDEN");
    expect((await req("GET", "/v1/companies/acme/users/nobody/faces", { key: K.enroll })).body).toEqual({ face_ids: [] });
    const form = new FormData();
    form.set("face_id", "f2");
    form.set("image", new Blob([sample(2)], { type: "image/jpeg" }), "f2.jpg");
    expect((await req("POST", "/v1/companies/acme/users/ann/faces", { key: K.enroll, body: form })).status).toBe(201);
    const raw = await req("POST", "/v1/companies/acme/users/ann/faces?face_id=f2", { key: K.enroll, body: face, headers: { "Content-Type": "image/jpeg" } });
    expectError(raw, "FACE_EXISTS");
    expectError(await req("POST", "/v1/companies/acme/users/nobody/faces", { key: K.enroll, json: { face_id: "f", image: b64(face) } }), "USER_NOT_FOUND");
    expectError(await req("POST", "/v1/companies/acme/users/ann/faces", { key: K.kiosk, json: { face_id: "f3", image: b64(face) } }), "FORBIDDEN");
  });

  test("recognize: recognize scope, three encodings, threshold floor; search by embedding", async () => {
    for (const key of [K.kiosk, K.enroll, K.manage, K.legacy, K.admin]) {
      const r = await req("POST", "/v1/companies/acme/recognize", { key, json: { image: b64(face) } });
      expect({ key, status: r.status, user: r.body.user_id }).toEqual({ key, status: 200, user: "ann" });
    }
    expect((await req("POST", "/v1/companies/acme/recognize?all_faces=true", { key: K.kiosk, body: face, headers: { "Content-Type": "image/jpeg" } })).body.faces.length).toBeGreaterThan(0);
    const form = new FormData();
    form.set("image", new Blob([face], { type: "image/jpeg" }), "x.jpg");
    expect((await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, body: form })).body.user_id).toBe("ann");
    expectError(await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, json: { image: b64(face), threshold: -1 } }), "FORBIDDEN");
    expectError(await req("POST", "/v1/companies/acme/recognize", { key: K.legacy, json: { image: b64(face), threshold: 0.1 } }), "FORBIDDEN");
    expect((await req("POST", "/v1/companies/acme/recognize", { key: K.admin, json: { image: b64(face), threshold: 0.1 } })).status).toBe(200);
    expectError(await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, json: { image: "%%%" } }), "INVALID_IMAGE");
    expectError(await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, json: { picture: b64(face) } }), "INVALID_ARGUMENT");
    const unknown = await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, json: { image: b64(await blankJpeg()) } });
    expect(unknown.body).toMatchObject({ user_id: null, confidence: 0, bbox: null });
    const embedding = (await req("POST", "/v1/embed", { key: K.kiosk, json: { image: b64(face) } })).body.embedding;
    const search = await req("POST", "/v1/companies/acme/search", { key: K.kiosk, json: { embedding } });
    expect(search.status).toBe(200);
    expectError(await req("POST", "/v1/companies/acme/search", { key: K.kiosk, json: { embedding: [1, 2] } }), "MODEL_MISMATCH");
  });

  test("stateless routes: any valid key", async () => {
    const d = await req("POST", "/v1/detect", { key: K.kiosk, json: { image: b64(face) } });
    expect(d.status).toBe(200);
    expect(d.body.faces_count).toBeGreaterThan(0);
    const e = await req("POST", "/v1/embed", { key: K.beta, json: { image: b64(face) } });
    expect(e.body.embedding).toHaveLength(512);
    expectError(await req("POST", "/v1/embed", { key: K.beta, json: { image: b64(await blankJpeg()) } }), "NO_FACE");
    const c = await req("POST", "/v1/compare", { key: K.kiosk, json: { query_embedding: e.body.embedding, reference_embeddings: [{ id: "same", embedding: e.body.embedding }] } });
    expect(c.body.best_match.id).toBe("same");
    const v = await req("POST", "/v1/verify", { key: K.enroll, json: { image1: b64(face), image2: b64(face) } });
    expect(v.body.is_match).toBe(true);
    const batch = await req("POST", "/v1/verify/batch", { key: K.enroll, json: { pairs: [{ image1: b64(face), image2: b64(face) }, { image1: "x", image2: b64(face) }] } });
    expect(batch.body.results.map((r: { ok: boolean }) => r.ok)).toEqual([true, false]);
    expectError(await req("POST", "/v1/verify/batch", { key: K.enroll, json: { pairs: Array.from({ length: 100 }, () => ({ image1: "x", image2: "x" })) } }), "INVALID_ARGUMENT");
  });

  test("admin routes: stats, metrics; /v1/me names each key's scopes", async () => {
    const stats = await req("GET", "/v1/stats?detail=companies", { key: K.admin });
    expect(stats.status).toBe(200);
    expect(stats.body.companies_count).toBeGreaterThanOrEqual(2);
    for (const key of [K.manage, K.legacy, K.kiosk]) expectError(await req("GET", "/v1/stats?detail=companies", { key }), "FORBIDDEN");
    const metrics = await call(srv.url, "GET", "/metrics", { key: K.admin });
    expect(metrics.text).toContain("facegate_http_requests_total");
    expect(metrics.text).toContain("facegate_auth_failures_total");
    expectError(await req("GET", "/metrics", { key: K.manage }), "FORBIDDEN");
    expect((await req("GET", "/v1/me", { key: K.kiosk })).body).toMatchObject({ admin: false, companies: ["acme"], scopes: { acme: "recognize" } });
    expect((await req("GET", "/v1/me", { key: K.admin })).body).toMatchObject({ admin: true, scopes: { "*": "admin" } });
  });

  test("deletes: manage scope; a deleted user stays deleted", async () => {
    expectError(await req("DELETE", "/v1/companies/acme/users/ann/faces/f2", { key: K.enroll }), "FORBIDDEN");
    expectError(await req("DELETE", "/v1/companies/acme/users/ann", { key: K.kiosk }), "FORBIDDEN");
    expect((await req("DELETE", "/v1/companies/acme/users/ann/faces/f2", { key: K.manage })).body.deleted).toBe(true);
    expect((await req("DELETE", "/v1/companies/acme/users/ann/faces/f2", { key: K.manage })).body.deleted).toBe(false);
    expect((await req("DELETE", "/v1/companies/acme/users/ann", { key: K.manage })).body.deleted).toBe(true);
    expect((await req("GET", "/v1/companies/acme/users/ann/faces", { key: K.enroll })).body.face_ids).toEqual([]);
    expect((await req("POST", "/v1/companies/acme/recognize", { key: K.kiosk, json: { image: b64(face) } })).body.user_id).toBeNull();
    expectError(await req("DELETE", "/v1/companies/beta", { key: K.manage }), "FORBIDDEN");
    expect((await req("DELETE", "/v1/companies/beta", { key: K.beta })).body.deleted).toBe(true);
  });
});

describe("kiosk WebSocket", () => {
  const open = (query: string, protocols?: string[]) =>
    new Promise<{ ready: boolean; code: number; error?: string }>((resolve) => {
      const ws = new WebSocket(`${srv.url.replace(/^http/, "ws")}/v1/kiosk/ws?${query}`, protocols);
      let error: string | undefined;
      ws.addEventListener("message", (e) => {
        const m = JSON.parse(String(e.data)) as { type: string; code?: string };
        if (m.type === "ready") {
          ws.close();
          resolve({ ready: true, code: 0 });
        }
        if (m.type === "error") error = m.code;
      });
      ws.addEventListener("close", (e) => resolve({ ready: false, code: e.code, error }));
    });
  test("recognize key by query or subprotocol; other company 4403; wrong key 4401; no company 4400", async () => {
    expect((await open(`company=acme&key=${K.kiosk}`)).ready).toBe(true);
    expect((await open("company=acme", ["facegate.v1", `facegate.key.${K.kiosk}`])).ready).toBe(true);
    expect(await open(`company=acme&key=${K.beta}`)).toEqual({ ready: false, code: 4403, error: "FORBIDDEN" });
    expect(await open("company=acme&key=nope-nope-nope")).toEqual({ ready: false, code: 4401, error: "UNAUTHORIZED" });
    expect(await open("company=acme")).toEqual({ ready: false, code: 4401, error: "UNAUTHORIZED" });
    expect((await open(`key=${K.kiosk}`)).code).toBe(4400);
    expect((await fetch(`${srv.url}/v1/kiosk/ws?company=acme`)).status).toBe(426);
  });
});

describe("wrong keys back off (last: it blocks this address)", () => {
  test("after AUTH_FAIL_LIMIT wrong keys: 429 RATE_LIMITED with Retry-After, for every key not already used from this address", async () => {
    let last: Reply | undefined;
    for (let i = 0; i < 40; i++) {
      last = await req("GET", "/v1/companies/acme/users/x/faces", { key: `guess-${i}-0000000` });
      if (last.status === 429) break;
    }
    expect(last?.status).toBe(429);
    expectError(last!, "RATE_LIMITED");
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // a right key never seen from this address could be a lucky guess: refused too
    expectError(await req("GET", "/v1/companies/acme/users/x/faces", { key: K.spare }), "RATE_LIMITED");
    // keys that worked from here before keep working (a kiosk fleet behind one NAT)
    expect((await req("GET", "/v1/companies/acme/users/x/faces", { key: K.admin })).status).toBe(200);
    // public routes keep answering
    expect((await req("GET", "/v1/health")).status).toBe(200);
  });
});
