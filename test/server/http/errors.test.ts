/**
 * Every error code over HTTP, each with its status and the `{ error: { code, message } }` shape.
 * All are produced by the real service and engine except FACE_TOO_SMALL and INTERNAL: the service
 * never raises FACE_TOO_SMALL (faces under MIN_FACE_SIZE are dropped, so the answer is NO_FACE),
 * and INTERNAL needs an unexpected exception; both use a wrapper around the real service that
 * throws on one method.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ERROR_CODES, FaceError, HTTP_STATUS, type ErrorCode, type FaceApi } from "../../../lib/core/mod.ts";
import { ApiKeys } from "../../../server/http/auth.ts";
import { b64, blankJpeg, paddedJson, startTestServer, tooWidePng, type Reply, type TestServer, sample } from "../harness.ts";

const seen = new Set<ErrorCode>();
function expectError(r: Reply, code: ErrorCode, message?: RegExp): void {
  expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status: HTTP_STATUS[code], code });
  expect(Object.keys(r.body)).toEqual(["error"]);
  expect(Object.keys(r.body.error).sort()).toEqual(["code", "message"]);
  expect(r.body.error.message.length).toBeGreaterThan(0);
  expect(r.text).not.toContain("    at "); // never a stack trace
  if (message) expect(r.body.error.message).toMatch(message);
  seen.add(code);
}

const group1 = sample(1);
let blank: Uint8Array<ArrayBuffer>;
let srv: TestServer;

beforeAll(async () => {
  blank = await blankJpeg();
  srv = await startTestServer({ config: { maxBodyBytes: 2 * 1024 * 1024 } });
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
  await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "u1", face_id: "f1", image: b64(group1) } });
});
afterAll(async () => {
  await srv?.stop();
});

describe("400 INVALID_ARGUMENT", () => {
  test("malformed JSON", async () => {
    expectError(await srv.call("POST", "/v1/companies", { body: '{"company_id": "x",', headers: { "Content-Type": "application/json" } }), "INVALID_ARGUMENT", /malformed JSON/);
  });
  test("wrong types and missing fields name the wire field", async () => {
    expectError(await srv.call("POST", "/v1/companies", { json: { company_id: 5 } }), "INVALID_ARGUMENT", /company_id/);
    expectError(await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "x", image: b64(group1) } }), "INVALID_ARGUMENT", /face_id/);
    expectError(await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(group1), all_faces: "yes" } }), "INVALID_ARGUMENT", /all_faces/);
    expectError(await srv.call("POST", "/v1/compare", { json: { query_embedding: "x", reference_embeddings: [] } }), "INVALID_ARGUMENT", /query_embedding/);
    expectError(await srv.call("POST", "/v1/compare", { json: { query_embedding: [1], reference_embeddings: [], distance_metric: "manhattan" } }), "INVALID_ARGUMENT", /distance_metric/);
  });
  test("blank, empty and control-character ids", async () => {
    expectError(await srv.call("POST", "/v1/companies", { json: { company_id: "" } }), "INVALID_ARGUMENT");
    expectError(await srv.call("POST", "/v1/companies", { json: { company_id: "   " } }), "INVALID_ARGUMENT");
    expectError(await srv.call("GET", "/v1/companies/%20/users/x/faces"), "INVALID_ARGUMENT", /company/);
    expectError(await srv.call("POST", "/v1/companies", { json: { company_id: "a\u0001b" } }), "INVALID_ARGUMENT");
    expectError(await srv.call("POST", "/v1/companies", { json: { company_id: "x".repeat(129) } }), "INVALID_ARGUMENT");
  });
  test("empty bodies, non-object JSON, unsupported content types", async () => {
    expectError(await srv.call("POST", "/v1/detect", { body: "", headers: { "Content-Type": "application/json" } }), "INVALID_ARGUMENT", /empty/);
    expectError(await srv.call("POST", "/v1/detect", { json: [1, 2] }), "INVALID_ARGUMENT", /JSON object/);
    expectError(await srv.call("POST", "/v1/detect", { json: null }), "INVALID_ARGUMENT");
    expectError(await srv.call("POST", "/v1/detect", { body: "a,b", headers: { "Content-Type": "text/csv" } }), "INVALID_ARGUMENT", /Content-Type/);
    expectError(await srv.call("POST", "/v1/detect", { body: "", headers: { "Content-Type": "image/jpeg" } }), "INVALID_ARGUMENT", /image/);
    expectError(await srv.call("POST", "/v1/verify", { body: group1, headers: { "Content-Type": "image/jpeg" } }), "INVALID_ARGUMENT", /Content-Type/);
    expectError(await srv.call("POST", "/v1/detect", { json: { image: "" } }), "INVALID_ARGUMENT", /empty/);
  });
  test("bad multipart body", async () => {
    expectError(
      await srv.call("POST", "/v1/detect", { body: "--xyz\r\ngarbage", headers: { "Content-Type": "multipart/form-data; boundary=xyz" } }),
      "INVALID_ARGUMENT",
    );
  });
  test("health ignores X-Min-Revision: a revision from the future does not make it wait or fail", async () => {
    for (const path of ["/v1/health", "/api/v1/health"]) {
      const t0 = performance.now();
      const r = await srv.call("GET", path, { headers: { "X-Min-Revision": "999999999" } });
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });
  test("bad X-Min-Revision; compare dimension mismatch; too many batch pairs", async () => {
    expectError(await srv.call("GET", "/v1/companies/acme/users/u1/faces", { headers: { "X-Min-Revision": "-1" } }), "INVALID_ARGUMENT", /X-Min-Revision/);
    expectError(
      await srv.call("POST", "/v1/compare", { json: { query_embedding: [1, 0], reference_embeddings: [{ id: "a", embedding: [1, 0, 0] }] } }),
      "INVALID_ARGUMENT",
      /dimensions/,
    );
    const pair = { image1: "x", image2: "y" };
    expectError(await srv.call("POST", "/v1/verify/batch", { json: { pairs: Array(17).fill(pair) } }), "INVALID_ARGUMENT", /at most 16/);
    expectError(await srv.call("POST", "/v1/verify/batch", { json: { pairs: [] } }), "INVALID_ARGUMENT");
  });
});

describe("image errors", () => {
  test("400 INVALID_IMAGE: garbage base64, garbage bytes, truncated JPEG, unsupported format", async () => {
    expectError(await srv.call("POST", "/v1/detect", { json: { image: "not base64 !!" } }), "INVALID_IMAGE");
    expectError(await srv.call("POST", "/v1/embed", { body: new Uint8Array(5000).fill(7), headers: { "Content-Type": "image/jpeg" } }), "INVALID_IMAGE");
    expectError(await srv.call("POST", "/v1/embed", { json: { image: b64(group1.subarray(0, Math.floor(group1.length / 3))) } }), "INVALID_IMAGE");
    const gif = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");
    expectError(await srv.call("POST", "/v1/detect", { json: { image: b64(gif) } }), "INVALID_IMAGE", /format/);
  });
  test("413 IMAGE_TOO_LARGE: pixel/side limit checked on the header", async () => {
    expectError(await srv.call("POST", "/v1/detect", { body: await tooWidePng(), headers: { "Content-Type": "image/png" } }), "IMAGE_TOO_LARGE");
  });
  test("422 NO_FACE", async () => {
    expectError(await srv.call("POST", "/v1/embed", { json: { image: b64(blank) } }), "NO_FACE");
    expectError(await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "nf", face_id: "f", image: b64(blank) } }), "NO_FACE");
    expectError(await srv.call("POST", "/v1/verify", { json: { image1: b64(group1), image2: b64(blank) } }), "NO_FACE", /image2/);
  });
  test("422 MULTIPLE_FACES (ENROLL_MULTIPLE_FACES=reject)", async () => {
    const strict = await startTestServer({ service: { enrollMultipleFaces: "reject" } });
    try {
      await strict.call("POST", "/v1/companies", { json: { company_id: "c" } });
      expectError(await strict.call("POST", "/v1/companies/c/users", { json: { user_id: "u", face_id: "f", image: b64(group1) } }), "MULTIPLE_FACES");
    } finally {
      await strict.stop();
    }
  });

  test("422 FACE_QUALITY (the enrollment quality gate; here one dominant face is required)", async () => {
    const strict = await startTestServer({ service: { enrollMaxSecondFaceRatio: 0.5 } });
    try {
      await strict.call("POST", "/v1/companies", { json: { company_id: "c" } });
      const image = b64(group1);
      expectError(await strict.call("POST", "/v1/companies/c/users", { json: { user_id: "u", face_id: "f", image } }), "FACE_QUALITY", /dominant_face/);
    } finally {
      await strict.stop();
    }
  });
});

describe("gallery errors", () => {
  test("404 COMPANY_NOT_FOUND / USER_NOT_FOUND", async () => {
    expectError(await srv.call("POST", "/v1/companies/nowhere/users", { json: { user_id: "u", face_id: "f", image: b64(group1) } }), "COMPANY_NOT_FOUND");
    expectError(await srv.call("POST", "/v1/companies/nowhere/users/u/faces", { json: { face_id: "f", image: b64(group1) } }), "COMPANY_NOT_FOUND");
    expectError(await srv.call("POST", "/v1/companies/acme/users/ghost/faces", { json: { face_id: "f", image: b64(group1) } }), "USER_NOT_FOUND");
  });
  test("409 USER_EXISTS / FACE_EXISTS", async () => {
    expectError(await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "u1", face_id: "f9", image: b64(group1) } }), "USER_EXISTS");
    expectError(await srv.call("POST", "/v1/companies/acme/users/u1/faces", { json: { face_id: "f1", image: b64(group1) } }), "FACE_EXISTS");
  });
  test("409 MODEL_MISMATCH: a company holding another model's embeddings", async () => {
    await srv.call("POST", "/v1/companies", { json: { company_id: "legacy" } });
    await srv.service.store.createUser("legacy", "old");
    const embedding = new Float32Array(512).fill(1 / Math.sqrt(512));
    const put = await srv.service.store.addFace({ companyId: "legacy", userId: "old", faceId: "o1", embedding, model: "buffalo_l" });
    const r = await srv.call("POST", "/v1/companies/legacy/users", {
      json: { user_id: "new", face_id: "n1", image: b64(group1) },
      headers: { "X-Min-Revision": String(put.revision) },
    });
    expectError(r, "MODEL_MISMATCH", /buffalo_l/);
  });
});

describe("transport errors", () => {
  test("404 NOT_FOUND for unknown paths, same shape", async () => {
    expectError(await srv.call("GET", "/nope"), "NOT_FOUND");
    expectError(await srv.call("GET", "/v1/nothing/here"), "NOT_FOUND");
    expectError(await srv.call("GET", `/v1/${"x".repeat(5000)}`), "NOT_FOUND");
  });
  test("405 METHOD_NOT_ALLOWED with Allow for a known path and another method", async () => {
    const r = await srv.call("GET", "/v1/detect");
    expectError(r, "METHOD_NOT_ALLOWED", /GET is not allowed on \/v1\/detect; it takes POST/);
    expect(r.headers.get("allow")).toBe("POST");
    const companies = await srv.call("PUT", "/v1/companies");
    expectError(companies, "METHOD_NOT_ALLOWED");
    expect(companies.headers.get("allow")).toBe("GET, HEAD, POST");
    const user = await srv.call("PUT", "/v1/companies/acme/users/u1");
    expectError(user, "METHOD_NOT_ALLOWED");
    expect(user.headers.get("allow")).toBe("DELETE, GET, HEAD, PATCH");
  });
  test("413 PAYLOAD_TOO_LARGE names MAX_BODY_BYTES and its value", async () => {
    const declared = await srv.call("POST", "/v1/detect", { body: paddedJson(2 * 1024 * 1024 + 1), headers: { "Content-Type": "application/json" } });
    expectError(declared, "PAYLOAD_TOO_LARGE", /MAX_BODY_BYTES=2097152 \(2 MiB\)/);
    // chunked (no Content-Length): counted while streaming, same setting named
    const chunks = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(new TextEncoder().encode(paddedJson(2 * 1024 * 1024 + 10)));
        ctl.close();
      },
    });
    const streamed = await srv.call("POST", "/v1/detect", { body: chunks, headers: { "Content-Type": "application/json" } });
    expectError(streamed, "PAYLOAD_TOO_LARGE", /MAX_BODY_BYTES=2097152/);
  });
  test("multipart: a wrong file field and a missing one say different things, naming the field", async () => {
    const form = (name: string) => {
      const f = new FormData();
      f.set("user_id", "mp1");
      f.set("face_id", "f1");
      if (name) f.set(name, new Blob([group1], { type: "image/jpeg" }), "a.jpg");
      return f;
    };
    const wrong = await srv.call("POST", "/v1/companies/acme/users", { body: form("photo") });
    expectError(wrong, "INVALID_ARGUMENT", /^multipart field 'photo' is not known; send the image as 'image'$/);
    const missing = await srv.call("POST", "/v1/companies/acme/users", { body: form("") });
    expectError(missing, "INVALID_ARGUMENT", /^image is required$/);
    const verify = await srv.call("POST", "/v1/verify", { body: form("img1") });
    expectError(verify, "INVALID_ARGUMENT", /send the image as 'image1' and 'image2'/);
    expectError(await srv.call("POST", "/v1/detect", { json: {} }), "INVALID_ARGUMENT", /^image is required$/);
  });
  test("401 UNAUTHORIZED / 403 FORBIDDEN", async () => {
    const keyed = await startTestServer({ keys: new ApiKeys({ "company-key-1": ["acme"] }, false) });
    try {
      expectError(await keyed.call("POST", "/v1/detect", { json: { image: "x" } }), "UNAUTHORIZED");
      expectError(await keyed.call("GET", "/v1/companies/beta/users/u/faces", { key: "company-key-1" }), "FORBIDDEN");
    } finally {
      await keyed.stop();
    }
  });
  test("400 INVALID_IDEMPOTENCY_KEY, 422 IDEMPOTENCY_KEY_REUSED (test/server/idempotency.test.ts has the rest)", async () => {
    expectError(await srv.call("DELETE", "/v1/companies/acme/users/nobody", { headers: { "Idempotency-Key": "two words" } }), "INVALID_IDEMPOTENCY_KEY", /Idempotency-Key/);
    await srv.call("DELETE", "/v1/companies/acme/users/x1", { headers: { "Idempotency-Key": "errors-reuse" } });
    expectError(await srv.call("DELETE", "/v1/companies/acme/users/x2", { headers: { "Idempotency-Key": "errors-reuse" } }), "IDEMPOTENCY_KEY_REUSED");
  });
  test("429 RATE_LIMITED", async () => {
    const limited = await startTestServer({ config: { rateLimitPerMinute: 1 } });
    try {
      expect((await limited.call("GET", "/v1/companies/a/users/b/faces")).status).toBe(200);
      expectError(await limited.call("GET", "/v1/companies/a/users/b/faces"), "RATE_LIMITED");
    } finally {
      await limited.stop();
    }
  });
  test("503 TIMEOUT: the request deadline", async () => {
    const slow = await startTestServer({ config: { requestTimeoutMs: 1 } });
    try {
      expectError(await slow.call("POST", "/v1/detect", { json: { image: b64(group1) } }), "TIMEOUT", /1 ms/);
    } finally {
      await slow.stop();
    }
  });
  test("503 UNAVAILABLE: not ready (health), and a closed service", async () => {
    const starting = await startTestServer({ ready: false });
    try {
      expectError(await starting.call("GET", "/v1/health"), "UNAVAILABLE");
      starting.running.setReady(true);
      expect((await starting.call("GET", "/v1/health")).status).toBe(200);
      await starting.service.close();
      expectError(await starting.call("POST", "/v1/companies", { json: { company_id: "x" } }), "UNAVAILABLE", /closed/);
      expectError(await starting.call("GET", "/v1/health"), "UNAVAILABLE");
    } finally {
      await starting.stop();
    }
  });
});

describe("errors the real service does not raise (wrapper around it)", () => {
  const failing = (api: FaceApi): FaceApi =>
    new Proxy(api, {
      get(target, name, receiver) {
        if (name === "detectFaces") return async () => Promise.reject(new TypeError("boom: secret internal detail"));
        if (name === "generateEmbedding") return async () => Promise.reject(new FaceError("FACE_TOO_SMALL", "face is 20 px; at least 40 px needed"));
        const value = Reflect.get(target, name, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });

  test("500 INTERNAL: generic message to the client, the stack to the log", async () => {
    const s = await startTestServer({ wrap: failing });
    try {
      const r = await s.call("POST", "/v1/detect", { json: { image: b64(group1) }, headers: { "X-Request-Id": "boom-1" } });
      expectError(r, "INTERNAL");
      expect(r.text).not.toContain("secret");
      const logged = s.logs.find((l) => l.msg === "unhandled error" && l.id === "boom-1");
      expect(JSON.stringify(logged)).toContain("boom: secret internal detail");
      expect((await s.call("GET", "/v1/health")).status).toBe(200); // still serving
    } finally {
      await s.stop();
    }
  });
  test("422 FACE_TOO_SMALL", async () => {
    const s = await startTestServer({ wrap: failing });
    try {
      expectError(await s.call("POST", "/v1/embed", { json: { image: b64(group1) } }), "FACE_TOO_SMALL");
    } finally {
      await s.stop();
    }
  });
});

test("every error code was reached over HTTP", () => {
  expect([...ERROR_CODES].filter((c) => !seen.has(c))).toEqual([]);
});
