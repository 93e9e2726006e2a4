/**
 * Key scopes by operation over HTTP: every route of the route table (and /metrics) against keys of
 * every scope, in both key formats; the threshold floor; the company named in a body.
 * A route added to the table is covered automatically (its declared scope is what is tested);
 * the routes of the original API must also keep the scope they are documented with.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys, type Scope } from "../../../server/http/auth.ts";
import { DEFAULT_SERVER_CONFIG, loadServerConfig } from "../../../server/config/server.ts";
import { buildRoutes } from "../../../server/http/routes.ts";
import { b64, blankJpeg, rawHttp, startTestServer, type TestServer } from "../harness.ts";

const KEYS = {
  admin: "admin-key-0001",
  legacy: "legacy-acme-0001",
  kiosk: "kiosk-acme-0001",
  enroll: "enroll-acme-0001",
  manage: "manage-acme-0001",
  acmeAdmin: "admin-acme-0001",
  everywhereRecognize: "recognize-all-0001",
  metrics: "metrics-only-0001",
} as const;
type KeyName = keyof typeof KEYS;

const API_KEYS = {
  [KEYS.admin]: ["*"],
  [KEYS.legacy]: ["acme"],
  [KEYS.kiosk]: { companies: ["acme"], scopes: ["recognize"] },
  [KEYS.enroll]: { companies: ["acme"], scopes: ["enroll"] },
  [KEYS.manage]: { companies: ["acme"], scopes: ["manage"] },
  [KEYS.acmeAdmin]: { companies: ["acme"], scopes: ["admin"] },
  [KEYS.everywhereRecognize]: { companies: ["*"], scopes: ["recognize"] },
  // A Prometheus scraper's key: /metrics and nothing else (not even the "any" engine routes).
  [KEYS.metrics]: { companies: ["*"], scopes: ["metrics"] },
};

// What each key holds, written out independently of server/auth.ts: [scope on acme, scope on every company].
const RANK = { recognize: 0, enroll: 1, manage: 2, admin: 3 } as const;
type KeyScope = keyof typeof RANK;
const HOLDS: Record<KeyName, { acme?: KeyScope; all?: KeyScope }> = {
  admin: { acme: "admin", all: "admin" },
  legacy: { acme: "manage" },
  kiosk: { acme: "recognize" },
  enroll: { acme: "enroll" },
  manage: { acme: "manage" },
  acmeAdmin: { acme: "admin" },
  everywhereRecognize: { acme: "recognize", all: "recognize" },
  metrics: {},
};

/** The scopes the original routes are documented with (docs/server.md). */
const DOCUMENTED: Record<string, Scope> = {
  create_company: "manage",
  delete_company: "manage",
  create_user: "enroll",
  delete_user: "manage",
  get_user_faces: "enroll",
  add_face: "enroll",
  delete_face: "manage",
  recognize_face: "recognize",
  detect_faces: "any",
  generate_embedding: "any",
  compare: "any",
  verify: "any",
  verify_batch: "any",
  health_check: "public",
  get_cache_stats: "admin",
  whoami: "any",
  search_embedding: "recognize",
};

const allowed = (key: KeyName, scope: string, company: "acme" | "beta" | null): boolean => {
  if (scope === "public") return true;
  if (scope === "metrics") return key === "metrics" || key === "admin";
  if (scope === "any") return key !== "metrics";
  const need = RANK[scope as KeyScope];
  const held = HOLDS[key];
  const on = company === "acme" ? held.acme : held.all; // beta, or no company: only a grant on "*" counts
  return on !== undefined && RANK[on] >= need;
};

let srv: TestServer;
beforeAll(async () => {
  const config = loadServerConfig({ API_KEYS: JSON.stringify(API_KEYS) });
  srv = await startTestServer({ keys: ApiKeys.fromConfig(config), config: { authFailLimit: 0 } });
});
afterAll(async () => {
  await srv?.stop();
});

const routes = buildRoutes(DEFAULT_SERVER_CONFIG);

describe("every route's scope", () => {
  test("the original routes keep their documented scopes", () => {
    for (const [operationId, scope] of Object.entries(DOCUMENTED)) {
      expect({ operationId, scope: routes.find((r) => r.operationId === operationId)?.scope }).toEqual({ operationId, scope });
    }
  });

  /** Every route the server documents (the route table, the integration and compatibility routes) and /metrics. */
  const targets = async () => {
    const doc = (await srv.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, { "x-scope"?: string; requestBody?: unknown }>> };
    const out = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path: path.replace(/\{([^}]+)\}/g, ":$1"),
        scope: op["x-scope"] ?? "admin",
        body: op.requestBody !== undefined,
        companyInBody: method === "post" && path === "/v1/companies",
      })),
    );
    expect(out.find((t) => t.path === "/metrics")?.scope).toBe("metrics");
    return out;
  };
  /** Status only: a streaming answer (server-sent events) is cut after its headers. */
  const statusOf = async (method: string, path: string, key: string, json: unknown) => {
    const res = await fetch(`${srv.url}${path}`, {
      method,
      headers: { "X-API-Key": key, ...(json === undefined ? {} : { "Content-Type": "application/json" }) },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const type = res.headers.get("content-type") ?? "";
    if (type.includes("text/event-stream")) {
      await res.body?.cancel();
      return { status: res.status, code: undefined, text: "" };
    }
    const text = await res.text();
    let code: string | undefined;
    try {
      const body = JSON.parse(text) as { error?: { code?: string } | string; error_code?: string };
      code = typeof body.error === "object" ? body.error.code : body.error_code;
    } catch {
      code = undefined;
    }
    return { status: res.status, code, text };
  };

  test("the documented routes include the integration routes", async () => {
    const paths = (await targets()).map((t) => `${t.method} ${t.path}`);
    expect(paths.length).toBeGreaterThanOrEqual(25);
    expect(paths).toContain("GET /v1/companies/:company/events");
  });

  for (const company of ["acme", "beta"] as const) {
    test(`each key on each documented route, company ${company}`, async () => {
      const rows: string[] = [];
      for (const route of await targets()) {
        const path = route.path.replace(":company", company).replace(/:[a-z_]+/g, "nothing");
        const hasCompany = route.path.includes(":company") || route.companyInBody;
        for (const key of Object.keys(KEYS) as KeyName[]) {
          const json = route.companyInBody ? { company_id: company } : route.body ? {} : undefined;
          const r = await statusOf(route.method, path, KEYS[key], json);
          const expected = allowed(key, route.scope, hasCompany ? company : null);
          const got = r.status === 403 ? "forbidden" : r.status === 401 ? "unauthorized" : "allowed";
          if (got !== (expected ? "allowed" : "forbidden")) rows.push(`${route.method} ${path} (${route.scope}) with ${key}: ${r.status} ${r.text.slice(0, 120)}`);
          if (!expected && r.code !== "FORBIDDEN") rows.push(`${route.method} ${path} with ${key}: code ${r.code}`);
        }
      }
      expect(rows).toEqual([]);
    });
  }

  test("a kiosk (recognize) key cannot write: every write route answers 403", async () => {
    const writes = routes.filter((r) => r.method !== "GET" && r.scope !== "any" && r.scope !== "public" && r.scope !== "recognize");
    expect(writes.length).toBeGreaterThanOrEqual(6);
    for (const r of writes) {
      const path = r.path.replace(":company", "acme").replace(":user", "u").replace(":face", "f");
      const res = await srv.call(r.method, path, { key: KEYS.kiosk, json: r.company ? { company_id: "acme" } : r.body ? {} : undefined });
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
    }
  });

  test("a public route needs no key; a non-public one needs a valid key", async () => {
    expect((await srv.call("GET", "/v1/health")).status).toBe(200);
    expect((await srv.call("POST", "/v1/companies/acme/recognize", { json: {} })).status).toBe(401);
    expect((await srv.call("POST", "/v1/companies/acme/recognize", { key: "not-a-key-0001", json: {} })).status).toBe(401);
  });
});

describe("threshold floor (THRESHOLD_FLOOR, default 0.3)", () => {
  let blank: Uint8Array<ArrayBuffer>;
  beforeAll(async () => {
    blank = await blankJpeg(64, 64);
    await srv.call("POST", "/v1/companies", { key: KEYS.admin, json: { company_id: "acme" } });
  });
  test("below the floor: 403 for recognize, legacy and manage keys, before any engine work", async () => {
    const before = (await srv.call("GET", "/v1/stats?detail=companies", { key: KEYS.admin })).body.total_tasks_processed;
    for (const key of [KEYS.kiosk, KEYS.legacy, KEYS.manage, KEYS.everywhereRecognize]) {
      for (const threshold of [-1, 0, 0.29]) {
        const r = await srv.call("POST", "/v1/companies/acme/recognize", { key, json: { image: b64(blank), threshold } });
        expect({ threshold, status: r.status, code: r.body.error?.code }).toEqual({ threshold, status: 403, code: "FORBIDDEN" });
        expect(r.body.error.message).toMatch(/below the floor 0.3/);
      }
    }
    // multipart and raw bodies carry it as a text field / query parameter
    const form = new FormData();
    form.set("image", new Blob([blank], { type: "image/jpeg" }), "x.jpg");
    form.set("threshold", "0.05");
    expect((await srv.call("POST", "/v1/companies/acme/recognize", { key: KEYS.kiosk, body: form })).status).toBe(403);
    const raw = await srv.call("POST", "/v1/companies/acme/recognize?threshold=0.05", { key: KEYS.kiosk, body: blank, headers: { "Content-Type": "image/jpeg" } });
    expect(raw.status).toBe(403);
    // verify and verify/batch too
    expect((await srv.call("POST", "/v1/verify", { key: KEYS.legacy, json: { image1: b64(blank), image2: b64(blank), threshold: 0.1 } })).status).toBe(403);
    const batch = await srv.call("POST", "/v1/verify/batch", { key: KEYS.legacy, json: { pairs: [{ image1: b64(blank), image2: b64(blank) }, { image1: b64(blank), image2: b64(blank), threshold: 0.1 }] } });
    expect(batch.status).toBe(403);
    expect((await srv.call("GET", "/v1/stats?detail=companies", { key: KEYS.admin })).body.total_tasks_processed).toBe(before + 1); // the stats call itself
  });
  test("at or above the floor: allowed for a kiosk key", async () => {
    for (const threshold of [0.3, 0.5, 0.99]) {
      const r = await srv.call("POST", "/v1/companies/acme/recognize", { key: KEYS.kiosk, json: { image: b64(blank), threshold } });
      expect({ threshold, status: r.status }).toEqual({ threshold, status: 200 });
    }
  });
  test("admin keys (global, or admin on the company) may go below", async () => {
    for (const key of [KEYS.admin, KEYS.acmeAdmin]) {
      const r = await srv.call("POST", "/v1/companies/acme/recognize", { key, json: { image: b64(blank), threshold: 0.1 } });
      expect(r.status).toBe(200);
    }
    // admin on acme is not admin on beta
    const beta = await srv.call("POST", "/v1/companies/beta/recognize", { key: KEYS.acmeAdmin, json: { image: b64(blank), threshold: 0.1 } });
    expect(beta.status).toBe(403);
  });
  test("the floor is configurable", async () => {
    const other = await startTestServer({ keys: ApiKeys.fromConfig(loadServerConfig({ API_KEYS: JSON.stringify(API_KEYS) })), config: { thresholdFloor: 0.6 } });
    try {
      await other.call("POST", "/v1/companies", { key: KEYS.admin, json: { company_id: "acme" } });
      const r = await other.call("POST", "/v1/companies/acme/recognize", { key: KEYS.kiosk, json: { image: b64(blank), threshold: 0.5 } });
      expect(r.status).toBe(403);
      expect(r.body.error.message).toMatch(/below the floor 0.6/);
    } finally {
      await other.stop();
    }
  });
});

describe("company named in the body (POST /v1/companies)", () => {
  test("needs manage on that company", async () => {
    expect((await srv.call("POST", "/v1/companies", { key: KEYS.kiosk, json: { company_id: "acme" } })).status).toBe(403);
    expect((await srv.call("POST", "/v1/companies", { key: KEYS.enroll, json: { company_id: "acme" } })).status).toBe(403);
    expect((await srv.call("POST", "/v1/companies", { key: KEYS.manage, json: { company_id: "beta" } })).status).toBe(403);
    expect([200, 201]).toContain((await srv.call("POST", "/v1/companies", { key: KEYS.manage, json: { company_id: "acme" } })).status);
    // a key with no manage scope anywhere is refused before its body is read (declared 3 MB, never sent)
    const answer = await rawHttp(srv.url, `POST /v1/companies HTTP/1.1\r\nHost: localhost\r\nX-API-Key: ${KEYS.kiosk}\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n{"company_id":`, 1500);
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
  });
});
