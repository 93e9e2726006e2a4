/** API key scopes over HTTP (admin, company keys, wrong and missing keys, open mode) and the ApiKeys class. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { ApiKeys, OPEN_PRINCIPAL } from "../../../server/http/auth.ts";
import { loadServerConfig } from "../../../server/config/server.ts";
import { b64, paddedJson, startTestServer, type TestServer, sample } from "../harness.ts";

const ADMIN = "admin-key-0001";
const ACME = "acme-key-0001";
const MULTI = "multi-key-0001";
const group1 = sample(1);
let srv: TestServer;

beforeAll(async () => {
  const keys = ApiKeys.fromConfig(
    loadServerConfig({ API_KEYS: JSON.stringify({ [ADMIN]: ["*"], [ACME]: ["acme"], [MULTI]: ["acme", "beta"] }) }),
  );
  srv = await startTestServer({ keys, config: { maxBodyBytes: 1024 * 1024 } });
});
afterAll(async () => {
  await srv?.stop();
});

describe("missing and wrong keys", () => {
  test("401 without a key on every non-public route", async () => {
    for (const [method, path] of [
      ["POST", "/v1/companies"],
      ["DELETE", "/v1/companies/acme"],
      ["POST", "/v1/companies/acme/users"],
      ["GET", "/v1/companies/acme/users/u/faces"],
      ["POST", "/v1/companies/acme/recognize"],
      ["POST", "/v1/detect"],
      ["POST", "/v1/compare"],
      ["POST", "/v1/verify/batch"],
      ["GET", "/v1/stats?detail=companies"],
      ["GET", "/metrics"],
    ]) {
      const r = await srv.call(method, path, { json: {} });
      expect({ path, status: r.status, code: r.body.error.code }).toEqual({ path, status: 401, code: "UNAUTHORIZED" });
    }
  });
  test("401 with a wrong key (and before the body is read)", async () => {
    const r = await srv.call("POST", "/v1/detect", { key: "wrong-key-0001", body: paddedJson(2 * 1024 * 1024), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(401);
    expect(r.body.error).toEqual({ code: "UNAUTHORIZED", message: "invalid API key" });
  });
  test("public routes need no key: health, openapi, docs", async () => {
    expect((await srv.call("GET", "/v1/health")).status).toBe(200);
    expect((await srv.call("GET", "/openapi.json")).status).toBe(200);
    expect((await srv.call("GET", "/docs")).status).toBe(200);
  });
  test("public health says only whether the service is up; an admin key gets the details", async () => {
    for (const key of [undefined, ACME, "wrong-key-0001"]) {
      const r = await srv.call("GET", "/v1/health", key ? { key } : {});
      expect({ key, status: r.status, body: r.body }).toEqual({ key, status: 200, body: { status: "healthy" } });
    }
    const admin = await srv.call("GET", "/v1/health", { key: ADMIN });
    expect(admin.body.status).toBe("healthy");
    expect(admin.body.engine.embedding_dim).toBe(512);
    expect(admin.body.store).toHaveProperty("kind");
    expect(admin.body.worker_info).toHaveProperty("worker_id");
  });
});

describe("admin key", () => {
  test("reaches every company, stats and metrics", async () => {
    expect((await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "beta" } })).status).toBe(201);
    expect((await srv.call("POST", "/v1/companies", { key: ADMIN, json: { company_id: "gamma" } })).status).toBe(201);
    expect((await srv.call("GET", "/v1/stats?detail=companies", { key: ADMIN })).status).toBe(200);
    expect((await srv.call("GET", "/metrics", { key: ADMIN })).status).toBe(200);
    expect((await srv.call("DELETE", "/v1/companies/gamma", { key: ADMIN })).body.deleted).toBe(true);
  });
});

describe("company key", () => {
  test("works on its own company: create, enroll, recognize, list, delete", async () => {
    expect((await srv.call("POST", "/v1/companies", { key: ACME, json: { company_id: "acme" } })).status).toBe(201);
    const u = await srv.call("POST", "/v1/companies/acme/users", { key: ACME, json: { user_id: "u", face_id: "f", image: b64(group1) } });
    expect(u.status).toBe(201);
    const r = await srv.call("POST", "/v1/companies/acme/recognize", { key: ACME, json: { image: b64(group1) } });
    expect(r.body.user_id).toBe("u");
    expect((await srv.call("GET", "/v1/companies/acme/users/u/faces", { key: ACME })).body.face_ids).toEqual(["f"]);
  });
  test("403 on another company's routes, including creating or deleting it", async () => {
    const cases: Array<[string, string, unknown]> = [
      ["POST", "/v1/companies", { company_id: "beta" }],
      ["DELETE", "/v1/companies/beta", undefined],
      ["POST", "/v1/companies/beta/users", { user_id: "x", face_id: "f", image: b64(group1) }],
      ["DELETE", "/v1/companies/beta/users/x", undefined],
      ["GET", "/v1/companies/beta/users/x/faces", undefined],
      ["POST", "/v1/companies/beta/users/x/faces", { face_id: "f", image: "x" }],
      ["DELETE", "/v1/companies/beta/users/x/faces/f", undefined],
      ["POST", "/v1/companies/beta/recognize", { image: b64(group1) }],
    ];
    for (const [method, path, json] of cases) {
      const r = await srv.call(method, path, { key: ACME, json });
      expect({ method, path, status: r.status, code: r.body.error?.code }).toEqual({ method, path, status: 403, code: "FORBIDDEN" });
    }
  });
  test("GET /v1/me names the key's companies (and admin for the admin key, 401 without a key)", async () => {
    expect((await srv.call("GET", "/v1/me", { key: ACME })).body).toEqual({ key_id: expect.stringMatching(/^key:[0-9a-f]{8}$/), auth_mode: "keys", admin: false, companies: ["acme"], scopes: { acme: "manage" } });
    expect((await srv.call("GET", "/v1/me", { key: MULTI })).body.companies).toEqual(["acme", "beta"]);
    expect((await srv.call("GET", "/v1/me", { key: ADMIN })).body).toMatchObject({ admin: true, companies: [] });
    expect((await srv.call("GET", "/v1/me")).status).toBe(401);
  });
  test("403 on admin-only routes: stats and metrics", async () => {
    expect((await srv.call("GET", "/v1/stats?detail=companies", { key: ACME })).status).toBe(403);
    expect((await srv.call("GET", "/metrics", { key: ACME })).status).toBe(403);
  });
  test("403 comes before the body is read (a large body to a foreign company)", async () => {
    const r = await srv.call("POST", "/v1/companies/beta/recognize", { key: ACME, body: paddedJson(3 * 1024 * 1024), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(403);
  });
  test("stateless routes are open to any valid key", async () => {
    expect((await srv.call("POST", "/v1/detect", { key: ACME, json: { image: b64(group1) } })).status).toBe(200);
    expect((await srv.call("POST", "/v1/compare", { key: ACME, json: { query_embedding: [1, 0], reference_embeddings: [] } })).status).toBe(200);
  });
  test("a key for several companies reaches each of them", async () => {
    expect((await srv.call("GET", "/v1/companies/acme/users/u/faces", { key: MULTI })).status).toBe(200);
    expect((await srv.call("GET", "/v1/companies/beta/users/u/faces", { key: MULTI })).status).toBe(200);
    expect((await srv.call("GET", "/v1/companies/gamma/users/u/faces", { key: MULTI })).status).toBe(403);
  });
  test("the gallery was not touched by refused requests", async () => {
    const stats = await srv.call("GET", "/v1/stats?detail=companies", { key: ADMIN });
    expect(stats.body.cache_info).toEqual({ acme: { users: 1, faces: 1 }, beta: { users: 0, faces: 0 } });
  });
  test("logs name the key by fingerprint, never the key itself", async () => {
    const lines = srv.logs.filter((l) => l.msg === "request" && typeof l.key === "string");
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(srv.logs)).not.toContain(ACME);
    expect(lines.some((l) => /^key:[0-9a-f]{8}$/.test(String(l.key)))).toBe(true);
  });
});

describe("open mode", () => {
  test("no key needed; every caller is admin", async () => {
    const open = await startTestServer();
    try {
      expect((await open.call("POST", "/v1/companies", { json: { company_id: "z" } })).status).toBe(201);
      expect((await open.call("GET", "/v1/stats?detail=companies")).status).toBe(200);
      expect((await open.call("GET", "/metrics", { key: "anything" })).status).toBe(200);
      expect((await open.call("GET", "/v1/me")).body).toEqual({ key_id: "open", auth_mode: "open", admin: true, companies: [], scopes: { "*": "admin" } });
    } finally {
      await open.stop();
    }
  });
});

describe("ApiKeys (transport-independent, used by the kiosk WebSocket)", () => {
  const keys = new ApiKeys({ [ADMIN]: ["*"], [ACME]: ["acme"] });
  test("authenticate and authorize", () => {
    expect(keys.open).toBe(false);
    const admin = keys.authenticate(ADMIN);
    expect(admin.admin).toBe(true);
    keys.authorize(admin, "admin", "anything");
    keys.authorize(admin, "admin");
    const acme = keys.authenticate(ACME);
    expect(acme.admin).toBe(false);
    keys.authorize(acme, "manage", "acme");
    expect(() => keys.authorize(acme, "recognize", "beta")).toThrow(FaceError);
    expect(() => keys.authorize(acme, "admin")).toThrow(/admin/);
    expect(() => keys.authenticate(undefined)).toThrow(/missing/);
    expect(() => keys.authenticate("nope")).toThrow(/invalid/);
    try {
      keys.authenticate("");
    } catch (e) {
      expect(FaceError.is(e, "UNAUTHORIZED")).toBe(true);
    }
    expect(acme.id).not.toContain(ACME);
    expect(keys.check(ACME, "recognize", "acme")).toBe(acme);
    expect(() => keys.check(ACME, "admin")).toThrow(/admin/);
  });
  test("open mode authenticates everyone as admin", () => {
    const open = ApiKeys.fromConfig(loadServerConfig({}));
    expect(open.open).toBe(true);
    expect(open.authenticate(undefined)).toBe(OPEN_PRINCIPAL);
    open.authorize(open.authenticate("whatever"), "admin", "any-company");
  });
});
