/** Every route through the real server (real service, ONNX engine, real photos), in the three encodings. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { describeWithTools, toolPath } from "../../helpers/tools.ts";
import { b64, blankJpeg, camelCaseKeys, startTestServer, type TestServer, sample } from "../harness.ts";

let srv: TestServer;
const group1 = sample(1);
const group2 = sample(2);
let blank: Uint8Array<ArrayBuffer>;

const serviceLogs: Array<[string, string]> = [];
beforeAll(async () => {
  srv = await startTestServer({ sqlite: true, log: (level, message) => serviceLogs.push([level, message]) });
  blank = await blankJpeg();
});
afterAll(async () => {
  await srv?.stop();
});

function norm(v: number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

describe("companies, users, faces", () => {
  test("create company: 201, then 200 (idempotent); multipart form field too", async () => {
    const a = await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ company_id: "acme", created: true });
    expect(typeof a.body.revision).toBe("number");
    const b = await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
    expect(b.status).toBe(200);
    expect(b.body.created).toBe(false);
    const form = new FormData();
    form.set("company_id", "beta");
    const c = await srv.call("POST", "/v1/companies", { body: form });
    expect(c.status).toBe(201);
    expect(c.body.company_id).toBe("beta");
  });

  test("create user from JSON base64 (data-URL prefix accepted)", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/users", {
      json: { user_id: "alice", face_id: "a1", image: `data:image/jpeg;base64,${b64(group1)}`, return_embedding: true },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ company_id: "acme", user_id: "alice", face_id: "a1" });
    expect(r.body.embedding).toHaveLength(512);
    expect(norm(r.body.embedding)).toBeCloseTo(1, 3);
    expect(r.body.bbox).toHaveLength(4);
    expect(r.body.detection_score).toBeGreaterThan(0.5);
    expect(typeof r.body.model).toBe("string");
  });

  test("create user from multipart (image file part, fields as form fields)", async () => {
    const form = new FormData();
    form.set("user_id", "bob");
    form.set("face_id", "b1");
    form.set("image", new Blob([group2], { type: "image/jpeg" }), "group2.jpg");
    const r = await srv.call("POST", "/v1/companies/acme/users", { body: form });
    expect(r.status).toBe(201);
    expect(r.body.user_id).toBe("bob");
    expect(r.body.embedding).toBeUndefined(); // left out unless asked for
    expect(r.body.faces_found).toBeGreaterThanOrEqual(1);
  });

  test("enroll answers: no embedding by default, faces_found, the largest face's box; return_embedding in every encoding", async () => {
    // group photo 3 has several faces: the answer says how many and boxes the one enrolled (the largest)
    const group3 = sample(3);
    const detected = await srv.call("POST", "/v1/detect", { json: { image: b64(group3) } });
    expect(detected.body.faces_count).toBeGreaterThan(1);
    const areas = (detected.body.bboxes as number[][]).map((b) => b[2] * b[3]);
    const largest = (detected.body.bboxes as number[][])[areas.indexOf(Math.max(...areas))];
    const plain = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "grp", face_id: "g1", image: b64(group3) } });
    expect(plain.status).toBe(201);
    expect(Object.keys(plain.body).sort()).toEqual(["bbox", "company_id", "detection_score", "face_id", "faces_found", "model", "revision", "user_id"]);
    expect(plain.body.faces_found).toBe(detected.body.faces_count);
    for (const [i, v] of (plain.body.bbox as number[]).entries()) expect(Math.abs(v - largest[i])).toBeLessThanOrEqual(2);
    // multipart form field and raw-body query parameter
    const form = new FormData();
    form.set("face_id", "g2");
    form.set("return_embedding", "true");
    form.set("image", new Blob([group3], { type: "image/jpeg" }), "g.jpg");
    const mp = await srv.call("POST", "/v1/companies/acme/users/grp/faces", { body: form });
    expect(mp.status).toBe(201);
    expect(mp.body.embedding).toHaveLength(512);
    const raw = await srv.call("POST", "/v1/companies/acme/users/grp/faces?face_id=g3&return_embedding=true", {
      body: group3,
      headers: { "Content-Type": "image/jpeg" },
    });
    expect(raw.body.embedding).toHaveLength(512);
    expect(raw.body.faces_found).toBe(detected.body.faces_count);
    const off = await srv.call("POST", "/v1/companies/acme/users/grp/faces", { json: { face_id: "g4", image: b64(group3), return_embedding: false } });
    expect(off.body.embedding).toBeUndefined();
    await srv.call("DELETE", "/v1/companies/acme/users/grp");
  });

  test("add face from a raw image/jpeg body (fields as query parameters)", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/users/alice/faces?face_id=a2", {
      body: group1,
      headers: { "Content-Type": "image/jpeg" },
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ user_id: "alice", face_id: "a2" });
  });

  test("create user from a raw body with query fields", async () => {
    const r = await srv.call("POST", "/v1/companies/beta/users?user_id=carol&face_id=c1", {
      body: group2,
      headers: { "Content-Type": "image/jpeg" },
    });
    expect(r.status).toBe(201);
    expect(r.body.company_id).toBe("beta");
  });

  test("get user faces; [] for unknown user or company", async () => {
    const r = await srv.call("GET", "/v1/companies/acme/users/alice/faces");
    expect(r.status).toBe(200);
    expect(r.body.face_ids.sort()).toEqual(["a1", "a2"]);
    expect((await srv.call("GET", "/v1/companies/acme/users/nobody/faces")).body).toEqual({ face_ids: [] });
    expect((await srv.call("GET", "/v1/companies/nowhere/users/x/faces")).body).toEqual({ face_ids: [] });
  });

  test("ids with spaces and unicode survive the path (percent-encoded)", async () => {
    const company = "Ünïcode Co";
    const r = await srv.call("POST", "/v1/companies", { json: { company_id: company } });
    expect(r.status).toBe(201);
    const f = await srv.call("GET", `/v1/companies/${encodeURIComponent(company)}/users/x/faces`);
    expect(f.status).toBe(200);
    const d = await srv.call("DELETE", `/v1/companies/${encodeURIComponent(company)}`);
    expect(d.body.deleted).toBe(true);
  });
});

describe("recognition", () => {
  test("recognize (JSON): the enrolled person, with bbox and face id", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(group1) } });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe("alice");
    expect(r.body.confidence).toBeGreaterThan(0.9);
    // the old system's box: [x, y, width, height] in whole pixels
    expect(r.body.bbox).toHaveLength(4);
    for (const v of r.body.bbox) expect(Number.isInteger(v)).toBe(true);
    expect(r.body.company_found).toBe(true);
    expect(["a1", "a2"]).toContain(r.body.face_id);
    expect(r.body.faces).toBeUndefined();
  });

  test("recognize with landmarks: 5 points and the 68 per face (HTTP and HttpFaceClient); none without", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(group1), all_faces: true, landmarks: true } });
    expect(r.status).toBe(200);
    expect(r.body.landmarks).toHaveLength(5);
    expect(r.body.landmarks_68).toHaveLength(68);
    for (const f of r.body.faces) {
      expect(f.landmarks).toHaveLength(5);
      expect(f.landmarks_68).toHaveLength(68);
    }
    const plain = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(group1) } });
    expect(plain.body.landmarks).toBeUndefined();
    expect(plain.body.landmarks_68).toBeUndefined();
    // The HTTP client asks for and decodes them (a kiosk driven through it needs them for liveness).
    const { HttpFaceClient } = await import("../../../server/http/client.ts");
    const client = new HttpFaceClient({ url: srv.url });
    const all = await client.recognizeFaces({ companyId: "acme", image: group1, landmarks: true });
    expect(all.faces.length).toBe(r.body.faces.length);
    expect(all.faces[0]!.landmarks).toHaveLength(5);
    expect(all.faces[0]!.landmarks68).toHaveLength(68);
    const one = await client.recognizeFace({ companyId: "acme", image: group1, landmarks: true });
    expect(one.userId).toBe("alice");
    expect(one.landmarks68).toHaveLength(68);
  });

  test("recognize with all_faces (raw body, query flag): every face plus the best", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/recognize?all_faces=true", {
      body: group1,
      headers: { "Content-Type": "image/jpeg" },
    });
    expect(r.status).toBe(200);
    expect(r.body.faces.length).toBeGreaterThan(1);
    expect(r.body.user_id).toBe("alice");
    const best = Math.max(...r.body.faces.filter((f: { user_id: string | null }) => f.user_id).map((f: { confidence: number }) => f.confidence));
    expect(r.body.confidence).toBe(best);
    for (const f of r.body.faces) expect(f.bbox.every((v: number) => Number.isInteger(v))).toBe(true);
    expect(r.body.company_found).toBe(true);
  });

  test("recognize with all_faces as a multipart field", async () => {
    const form = new FormData();
    form.set("image", new Blob([group2]), "g2.jpg");
    form.set("all_faces", "true");
    const r = await srv.call("POST", "/v1/companies/acme/recognize", { body: form });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe("bob");
    expect(Array.isArray(r.body.faces)).toBe(true);
  });

  test("recognize: below the threshold → user_id null with the score and bbox; threshold override", async () => {
    const low = await srv.call("POST", "/v1/companies/beta/recognize", { json: { image: b64(group1) } });
    expect(low.body.user_id).toBeNull();
    expect(low.body.confidence).toBeLessThan(0.4);
    expect(low.body.bbox).toHaveLength(4);
    // the same photo, with a threshold lowered below its score, matches
    const lowered = await srv.call("POST", "/v1/companies/beta/recognize", { json: { image: b64(group1), threshold: -1 } });
    expect(lowered.body.user_id).toBe("carol");
    expect(lowered.body.confidence).toBe(low.body.confidence);
  });

  test("recognize: no face or unknown company → null, 0, null; company_found tells them apart, and the log warns", async () => {
    const none = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(blank) } });
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ user_id: null, confidence: 0, bbox: null, threshold: expect.any(Number), company_found: true });
    const unknown = await srv.call("POST", "/v1/companies/nowhere/recognize", { json: { image: b64(group1) } });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ user_id: null, confidence: 0, bbox: null, threshold: expect.any(Number), company_found: false });
    const all = await srv.call("POST", "/v1/companies/nowhere/recognize", { json: { image: b64(group1), all_faces: true } });
    expect(all.body).toMatchObject({ user_id: null, confidence: 0, bbox: null, company_found: false, faces: [] });
    expect(serviceLogs.filter(([l, m]) => l === "warn" && m.includes('company "nowhere", which does not exist')).length).toBe(1); // once a minute
  });
});

describe("stateless routes", () => {
  test("detect: count, boxes, scores, landmarks; 0 on a blank image", async () => {
    const r = await srv.call("POST", "/v1/detect", { json: { image: b64(group1) } });
    expect(r.status).toBe(200);
    expect(r.body.faces_count).toBeGreaterThan(1);
    expect(r.body.bboxes).toHaveLength(r.body.faces_count);
    for (const box of r.body.bboxes) for (const v of box) expect(Number.isInteger(v)).toBe(true);
    expect(r.body.scores).toHaveLength(r.body.faces_count);
    expect(r.body.landmarks[0]).toHaveLength(5);
    const none = await srv.call("POST", "/v1/detect", { body: blank, headers: { "Content-Type": "image/jpeg" } });
    expect(none.body).toMatchObject({ faces_count: 0, bboxes: [], scores: [] });
  });

  test("embed (multipart) and compare (cosine and euclidean)", async () => {
    const form = new FormData();
    form.set("image", new Blob([group1]), "g1.jpg");
    const e = await srv.call("POST", "/v1/embed", { body: form });
    expect(e.status).toBe(200);
    expect(e.body.embedding).toHaveLength(512);
    expect(norm(e.body.embedding)).toBeCloseTo(1, 3);
    expect(e.body.detection_score).toBeGreaterThan(0.5);
    const other = (await srv.call("POST", "/v1/embed", { json: { image: b64(group2) } })).body.embedding as number[];
    const refs = [
      { id: "other", embedding: other },
      { id: "same", embedding: e.body.embedding },
    ];
    const c = await srv.call("POST", "/v1/compare", { json: { query_embedding: e.body.embedding, reference_embeddings: refs } });
    expect(c.status).toBe(200);
    expect(c.body.best_match.id).toBe("same");
    expect(c.body.best_match.similarity).toBeCloseTo(1, 4);
    expect(c.body.matches.map((m: { id: string }) => m.id)).toEqual(["same", "other"]);
    const eu = await srv.call("POST", "/v1/compare", {
      json: { query_embedding: e.body.embedding, reference_embeddings: refs, distance_metric: "euclidean" },
    });
    expect(eu.body.best_match.distance).toBeCloseTo(0, 4);
    expect(eu.body.matches[1].distance).toBeGreaterThan(0.5);
    const empty = await srv.call("POST", "/v1/compare", { json: { query_embedding: [1, 0], reference_embeddings: [] } });
    expect(empty.body).toEqual({ best_match: null, matches: [] });
  });

  test("verify (JSON and multipart image1/image2)", async () => {
    const same = await srv.call("POST", "/v1/verify", { json: { image1: b64(group1), image2: b64(group1) } });
    expect(same.status).toBe(200);
    expect(same.body.is_match).toBe(true);
    expect(same.body.confidence).toBeGreaterThan(0.9);
    expect(same.body.metrics.cosine_similarity).toBeCloseTo(same.body.confidence, 6);
    expect(same.body.metrics.euclidean_distance).toBeLessThan(0.3);
    expect(typeof same.body.processing_ms).toBe("number");
    expect(typeof same.body.threshold).toBe("number");
    const form = new FormData();
    form.set("image1", new Blob([group1]), "a.jpg");
    form.set("image2", new Blob([group2]), "b.jpg");
    const diff = await srv.call("POST", "/v1/verify", { body: form });
    expect(diff.status).toBe(200);
    expect(diff.body.is_match).toBe(false);
  });

  test("verify/batch: results in order, a failing pair reports its error inline", async () => {
    const r = await srv.call("POST", "/v1/verify/batch", {
      json: {
        pairs: [
          { image1: b64(group1), image2: b64(group1) },
          { image1: b64(group1), image2: b64(blank) },
          { image1: "bm90IGFuIGltYWdl", image2: b64(group1) },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.results).toHaveLength(3);
    expect(r.body.results[0]).toMatchObject({ index: 0, ok: true, is_match: true });
    expect(r.body.results[1]).toMatchObject({ index: 1, ok: false, error: { code: "NO_FACE" } });
    expect(r.body.results[2]).toMatchObject({ index: 2, ok: false, error: { code: "INVALID_IMAGE" } });
  });
});

describe("operations routes", () => {
  test("health: engine, store, worker info", async () => {
    const r = await srv.call("GET", "/v1/health");
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("healthy"); // the old system's word; the three-way state beside it
    expect(r.body.state).toBe("ok");
    expect(r.body.engine.engine).toBe("onnx");
    expect(r.body.engine.embedding_dim).toBe(512);
    expect(r.body.store.kind).toBe("sqlite");
    expect(typeof r.body.worker_info.worker_id).toBe("string");
    expect(typeof r.body.response_time_ms).toBe("number");
  });

  test("stats: the old system's names, per-company counts", async () => {
    const r = await srv.call("GET", "/v1/stats?detail=companies");
    expect(r.status).toBe(200);
    for (const k of ["companies_count", "users_count", "faces_count", "embeddings_count", "uptime_seconds", "total_tasks_processed", "cache_info"]) {
      expect(r.body).toHaveProperty(k);
    }
    // the old system's cache_info: keyed by company, {users, faces} and nothing else
    expect(r.body.cache_info.acme).toEqual({ users: 2, faces: 3 });
    for (const v of Object.values(r.body.cache_info)) expect(Object.keys(v as object).sort()).toEqual(["faces", "users"]);
    expect(r.body.companies).toEqual(r.body.cache_info);
    expect(r.body.server_info.store).toBe("sqlite");
    // Nested field names are snake_case too; keys that are company ids keep their spelling.
    await srv.call("POST", "/v1/companies", { json: { company_id: "camelCo" } });
    const again = await srv.call("GET", "/v1/stats?detail=companies");
    expect(camelCaseKeys(again.body.server_info, ["models", "operating_points"])).toEqual([]);
    expect(typeof again.body.server_info.memory_bytes).toBe("number");
    // thresholds are per company (FACE_RECOGNITION_THRESHOLD unset): each with its expected FPIR
    expect(again.body.server_info.recognition_threshold).toBeNull();
    expect(typeof again.body.server_info.operating_points.acme.threshold).toBe("number");
    expect(again.body.server_info.operating_points.acme).toHaveProperty("expected_fpir");
    expect(again.body.cache_info.camelCo).toEqual({ users: 0, faces: 0 });
    expect(Object.keys(again.body.server_info.models)).toContain("acme");
    await srv.call("DELETE", "/v1/companies/camelCo");
  });

  test("metrics: Prometheus text with routes, statuses, operations and gallery sizes", async () => {
    const r = await srv.call("GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    expect(r.text).toContain('facegate_http_requests_total{method="POST",route="/v1/companies/:company/users",status="201"}');
    expect(r.text).toContain('facegate_http_request_duration_seconds_bucket{method="POST",route="/v1/detect",status="200",le="+Inf"}');
    expect(r.text).toMatch(/facegate_operation_duration_seconds_count\{operation="recognize_face",outcome="ok",way="http"\} \d+/);
    expect(r.text).toMatch(/facegate_gallery_faces \d+/);
    expect(r.text).toContain('facegate_gallery_company_faces{company="acme"} 3');
  });

  test("openapi.json documents every route; /docs is a self-contained page", async () => {
    const r = await srv.call("GET", "/openapi.json");
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\./);
    const paths = Object.keys(r.body.paths);
    for (const p of ["/v1/companies", "/v1/companies/{company}/recognize", "/v1/verify/batch", "/v1/health", "/v1/stats", "/metrics"]) {
      expect(paths).toContain(p);
    }
    const create = r.body.paths["/v1/companies/{company}/users"].post;
    expect(Object.keys(create.requestBody.content).sort()).toEqual(["application/json", "image/*", "multipart/form-data"]);
    expect(create.requestBody.content["application/json"].schema.required).toEqual(["user_id", "face_id", "image"]);
    expect(create.responses["409"].description).toContain("USER_EXISTS");
    // Engine-bound routes document the admission limit's 503 with Retry-After; cheap ones do not.
    expect(create["x-admission"]).toBe("engine");
    expect(create.responses["503"].headers["Retry-After"]).toBeDefined();
    expect(r.body.paths["/v1/compare"].post["x-admission"]).toBeUndefined();
    const docs = await srv.call("GET", "/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    expect(docs.text).toContain("openapi.json");
    expect(docs.text).not.toMatch(/<script[^>]+src=/); // no CDN
  });

  describeWithTools(["chromium"], "/docs in Chromium", () => {
    test("/docs renders every route in a real browser, offline", async () => {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({ executablePath: toolPath("chromium") });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(String(e)));
        await page.route((url) => !url.href.startsWith(srv.url), (route) => route.abort()); // nothing but this server
        await page.goto(`${srv.url}/docs`);
        await page.waitForSelector("details");
        // One <details> per operation in the document (routes are added by several parts).
        const doc = (await srv.call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
        const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
        expect(operations).toBeGreaterThanOrEqual(16);
        expect(await page.locator("details:not(.schema)").count()).toBe(operations);
        expect(await page.locator("summary").first().innerText()).toContain("/v1/companies");
        // an example answer for every operation, the request example where there is a body
        expect(await page.locator("pre.example").count()).toBeGreaterThan(operations);
        const enroll = page.locator("details:not(.schema)", { hasText: "Create a user with a first face" });
        await enroll.locator("summary").first().click();
        expect(await enroll.locator("pre.example").first().innerText()).toContain('"user_id": "aaron"');
        expect(await enroll.locator("pre.example").nth(1).innerText()).toContain('"faces_found": 1');
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    });
  });

  test("request id: generated, or echoed when given", async () => {
    const a = await srv.call("GET", "/v1/health");
    expect(a.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const b = await srv.call("GET", "/v1/health", { headers: { "X-Request-Id": "trace-123" } });
    expect(b.headers.get("x-request-id")).toBe("trace-123");
    const line = srv.logs.find((l) => l.id === "trace-123");
    expect(line).toMatchObject({ msg: "request", method: "GET", route: "/v1/health", status: 200 });
    expect(typeof line?.ms).toBe("number");
  });

  test("X-Min-Revision: read your writes", async () => {
    const w = await srv.call("POST", "/v1/companies", { json: { company_id: "rev" } });
    const r = await srv.call("GET", "/v1/companies/rev/users/x/faces", { headers: { "X-Min-Revision": String(w.body.revision) } });
    expect(r.status).toBe(200);
  });
});

describe("deletes", () => {
  test("delete face, user, company; false when absent; the last face keeps the user", async () => {
    expect((await srv.call("DELETE", "/v1/companies/acme/users/alice/faces/a2")).body.deleted).toBe(true);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/alice/faces/a2")).body.deleted).toBe(false);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/alice/faces/a1")).body.deleted).toBe(true);
    // alice has no faces now but still exists: creating her again conflicts
    const again = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "alice", face_id: "z", image: b64(group1) } });
    expect(again.status).toBe(409);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/alice")).body.deleted).toBe(true);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/alice")).body.deleted).toBe(false);
    expect((await srv.call("DELETE", "/v1/companies/acme")).body.deleted).toBe(true);
    expect((await srv.call("DELETE", "/v1/companies/acme")).body.deleted).toBe(false);
    const stats = await srv.call("GET", "/v1/stats?detail=companies");
    expect(stats.body.companies.acme).toBeUndefined();
  });
});
