/** GET/PUT /v1/companies/:company/operating-point and stats through the real server. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../harness.ts";

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ sqlite: true });
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
});
afterAll(async () => {
  await srv?.stop();
});

test("GET: users, threshold and its source, target, expected FPIR, bounds and the calibration's curves, snake_case", async () => {
  const r = await srv.call("GET", "/v1/companies/acme/operating-point");
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ company_id: "acme", users: 0, source: "fpir_target", settings: null });
  expect(r.body.fpir_target).toBe(srv.service.config.fpirTarget);
  expect(typeof r.body.threshold).toBe("number");
  expect(r.body.bounds).toEqual({ fpir_target: { min: 1e-4, max: 0.2 }, threshold: { min: 0.2, max: 0.95 } });
  expect(r.body.calibration.model).toBe(srv.service.engine.info().modelId);
  expect(r.body.calibration.impostor_pairs).toBeGreaterThan(1000);
  const point = r.body.calibration.curve.find((p: { threshold: number }) => p.threshold === 0.4);
  expect(Object.keys(point).sort()).toEqual(["far", "fpir", "frr", "threshold"]);
});

test("PUT a target, then a threshold, then reset; recognitions use it; stats show it", async () => {
  const a = await srv.call("PUT", "/v1/companies/acme/operating-point", { json: { fpir_target: 0.001 } });
  expect(a.status).toBe(200);
  expect(a.body).toMatchObject({ source: "company_fpir_target", fpir_target: 0.001, settings: { fpir_target: 0.001 } });
  expect(typeof a.body.revision).toBe("number");
  const b = await srv.call("PUT", "/v1/companies/acme/operating-point", { json: { threshold: 0.5 } });
  expect(b.body).toMatchObject({ source: "company_threshold", threshold: 0.5, fpir_target: null, settings: { threshold: 0.5 } });
  const search = await srv.call("POST", "/v1/companies/acme/search", { json: { embedding: new Array(512).fill(0.01) } });
  expect(search.body.threshold).toBe(0.5);
  const stats = await srv.call("GET", "/v1/stats?detail=companies");
  expect(stats.body.server_info.operating_points.acme).toMatchObject({ threshold: 0.5, source: "company_threshold" });
  const c = await srv.call("PUT", "/v1/companies/acme/operating-point", { json: { fpir_target: null, threshold: null } });
  expect(c.body).toMatchObject({ source: "fpir_target", settings: null });
});

test("PUT refusals: out of bounds, both, wrong types, unknown company", async () => {
  const cases: Array<[string, unknown, number, string]> = [
    ["acme", { fpir_target: 0.9 }, 400, "INVALID_ARGUMENT"],
    ["acme", { threshold: 0.05 }, 400, "INVALID_ARGUMENT"],
    ["acme", { threshold: 0.5, fpir_target: 0.01 }, 400, "INVALID_ARGUMENT"],
    ["acme", { threshold: "0.5" }, 400, "INVALID_ARGUMENT"],
    ["nobody", { threshold: 0.5 }, 404, "COMPANY_NOT_FOUND"],
  ];
  for (const [company, json, status, code] of cases) {
    const r = await srv.call("PUT", `/v1/companies/${company}/operating-point`, { json });
    expect({ json, status: r.status, code: r.body.error?.code }).toEqual({ json, status, code });
  }
  expect((await srv.call("GET", "/v1/companies/nobody/operating-point")).status).toBe(404);
});
