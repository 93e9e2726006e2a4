/** POST /v1/companies/:company/search and recognize's return_embeddings through the real server. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

let srv: TestServer;
let enrolled: number[];

beforeAll(async () => {
  srv = await startTestServer();
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
  const r = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "alice", face_id: "a1", image: b64(sample(1)), return_embedding: true } });
  expect(r.status).toBe(201);
  enrolled = r.body.embedding;
});
afterAll(async () => {
  await srv?.stop();
});

test("recognize with return_embeddings, then search with the embedding: same person, snake_case fields, threshold reported", async () => {
  const rec = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(sample(1)), all_faces: true, return_embeddings: true } });
  expect(rec.status).toBe(200);
  expect(rec.body.user_id).toBe("alice");
  expect(typeof rec.body.threshold).toBe("number");
  const alice = rec.body.faces.find((f: { user_id: string | null }) => f.user_id === "alice");
  expect(alice.embedding).toHaveLength(512);
  const s = await srv.call("POST", "/v1/companies/acme/search", { json: { embedding: alice.embedding, top_k: 3 } });
  expect(s.status).toBe(200);
  expect(s.body).toMatchObject({ user_id: "alice", face_id: "a1", threshold: rec.body.threshold });
  expect(s.body.confidence).toBeCloseTo(alice.confidence, 5);
  expect(s.body.matches).toEqual([{ user_id: "alice", face_id: "a1", confidence: s.body.confidence }]);
  // multipart recognize takes return_embeddings as a form field
  const form = new FormData();
  form.set("image", new Blob([sample(1)], { type: "image/jpeg" }), "x.jpg");
  form.set("return_embeddings", "true");
  const m = await srv.call("POST", "/v1/companies/acme/recognize", { body: form });
  expect(m.body.embedding).toHaveLength(512);
  // without the option, no embeddings
  const plain = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(sample(1)) } });
  expect(plain.body.embedding).toBeUndefined();
});

test("search: a per-request threshold; the enrollment's embedding scores 1", async () => {
  const s = await srv.call("POST", "/v1/companies/acme/search", { json: { embedding: enrolled, threshold: 0.99 } });
  expect(s.status).toBe(200);
  expect(s.body.user_id).toBe("alice");
  expect(s.body.threshold).toBe(0.99);
  expect(s.body.confidence).toBeCloseTo(1, 5);
});

test("search refusals: 404 unknown company, 409 another model (length or model id), non-finite (1e999), strings, zero vector, bad top_k, not JSON", async () => {
  const cases: Array<[string, string | object, number, string]> = [
    ["/v1/companies/nobody/search", { embedding: enrolled }, 404, "COMPANY_NOT_FOUND"],
    ["/v1/companies/acme/search", { embedding: enrolled.slice(0, 511) }, 409, "MODEL_MISMATCH"],
    ["/v1/companies/acme/search", { embedding: enrolled, model: "w600k_r50@4c06341c" }, 409, "MODEL_MISMATCH"],
    ["/v1/companies/acme/search", `{"embedding":[1e999${",0.1".repeat(511)}]}`, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", { embedding: enrolled.map(String) }, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", { embedding: new Array(512).fill(0) }, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", { embedding: enrolled, top_k: 0 }, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", { embedding: enrolled, top_k: 101 }, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", {}, 400, "INVALID_ARGUMENT"],
    ["/v1/companies/acme/search", "not json", 400, "INVALID_ARGUMENT"],
  ];
  for (const [path, body, status, code] of cases) {
    const init =
      typeof body === "string" ? { body, headers: { "content-type": "application/json" } } : { json: body };
    const r = await srv.call("POST", path, init);
    expect({ path, body: typeof body === "string" ? body.slice(0, 20) : Object.keys(body), status: r.status, code: r.body?.error?.code }).toEqual({
      path,
      body: typeof body === "string" ? body.slice(0, 20) : Object.keys(body),
      status,
      code,
    });
  }
});

test("the route is in the OpenAPI document", async () => {
  const doc = await srv.call("GET", "/openapi.json");
  expect(doc.body.paths["/v1/companies/{company}/search"].post.operationId).toBe("search_embedding");
});
