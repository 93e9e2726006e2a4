/**
 * The embed/compare service's routes (attendance-service-guide.md), driven as its backends do:
 * embed a photo, store the embedding, compare a live photo's embedding with the stored ones by
 * cosine distance; flat errors {error, error_code}; X-API-Key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys } from "../../../../server/http/auth.ts";
import { b64, blankJpeg, sample, startTestServer, type TestServer } from "../../harness.ts";

const KEY = "k-compat-0123456789";
let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ keys: new ApiKeys({ [KEY]: ["acme"] }) });
});
afterAll(async () => {
  await srv?.stop();
});

describe("/api/v1 (embed/compare service compatibility)", () => {
  test("Pattern A and B: embed two photos, compare, best match first with distance and similarity", async () => {
    const a = await srv.call("POST", "/api/v1/embed", { key: KEY, json: { image: b64(sample(1)) } });
    expect(a.status).toBe(200);
    expect(a.body.embedding).toHaveLength(512);
    expect(a.body.detection_score).toBeGreaterThan(0.8);
    expect(a.body.dimension).toBe(512);
    const norm = Math.hypot(...(a.body.embedding as number[]));
    expect(norm).toBeCloseTo(1, 4);
    const b = await srv.call("POST", "/api/v1/embed", { key: KEY, json: { image: `data:image/jpeg;base64,${b64(sample(2))}` } });
    expect(b.status).toBe(200);
    const cmp = await srv.call("POST", "/api/v1/compare", {
      key: KEY,
      json: {
        query_embedding: a.body.embedding,
        reference_embeddings: [
          { id: "other", embedding: b.body.embedding },
          { id: "same", embedding: a.body.embedding },
        ],
        distance_metric: "cosine",
      },
    });
    expect(cmp.status).toBe(200);
    expect(cmp.body.best_match.id).toBe("same");
    expect(cmp.body.best_match.distance).toBeCloseTo(0, 5);
    expect(cmp.body.best_match.similarity).toBeCloseTo(1, 5);
    expect(cmp.body.matches.map((m: { id: string }) => m.id)).toEqual(["same", "other"]);
    expect(cmp.body.matches[1].distance).toBeCloseTo(1 - cmp.body.matches[1].similarity, 6);
    const euclid = await srv.call("POST", "/api/v1/compare", {
      key: KEY,
      json: { query_embedding: a.body.embedding, reference_embeddings: [{ id: "other", embedding: b.body.embedding }], distance_metric: "euclidean" },
    });
    expect(euclid.body.best_match.distance).toBeCloseTo(Math.sqrt(2 - 2 * cmp.body.matches[1].similarity), 4);
  });

  test("errors are flat {error, error_code} with facegate's statuses", async () => {
    const noFace = await srv.call("POST", "/api/v1/embed", { key: KEY, json: { image: b64(await blankJpeg()) } });
    expect(noFace.status).toBe(422);
    expect(noFace.body).toEqual({ error: expect.any(String), error_code: "NO_FACE" });
    const bad = await srv.call("POST", "/api/v1/embed", { key: KEY, json: { image: "invalid_base64" } });
    expect(bad.status).toBe(400);
    expect(["INVALID_IMAGE", "INVALID_ARGUMENT"]).toContain(bad.body.error_code);
    expect(typeof bad.body.error).toBe("string");
    const missing = await srv.call("POST", "/api/v1/embed", { key: KEY, json: {} });
    expect(missing.body.error_code).toBe("INVALID_ARGUMENT");
    const dims = await srv.call("POST", "/api/v1/compare", {
      key: KEY,
      json: { query_embedding: [1, 0, 0], reference_embeddings: [{ id: "x", embedding: [1, 0] }] },
    });
    expect(dims.status).toBe(400);
    expect(dims.body.error_code).toBe("INVALID_ARGUMENT");
    const noKey = await srv.call("POST", "/api/v1/embed", { json: { image: b64(sample(1)) } });
    expect(noKey.status).toBe(401);
    expect(noKey.body.error_code).toBe("UNAUTHORIZED");
    const wrongKey = await srv.call("POST", "/api/v1/compare", { key: "k-wrong-0123456789", json: {} });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body).toEqual({ error: expect.any(String), error_code: "UNAUTHORIZED" });
    const notJson = await srv.call("POST", "/api/v1/compare", { key: KEY, body: "{nope", headers: { "Content-Type": "application/json" } });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error_code).toBe("INVALID_ARGUMENT");
  });

  test("health: {status: healthy} without a key", async () => {
    const h = await srv.call("GET", "/api/v1/health");
    expect(h.status).toBe(200);
    expect(h.body.status).toBe("healthy");
    expect(typeof h.body.response_time_ms).toBe("number");
  });

  test("in the OpenAPI document under 'compatibility'", async () => {
    const doc = (await srv.call("GET", "/openapi.json")).body;
    expect(doc.paths["/api/v1/embed"].post.tags).toEqual(["compatibility"]);
    expect(doc.paths["/api/v1/compare"].post.operationId).toBe("compat_compare");
    expect(doc.paths["/api/v1/health"].get.operationId).toBe("compat_health");
  });
});
