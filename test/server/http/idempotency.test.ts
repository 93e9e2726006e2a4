/**
 * Idempotency-Key on the HTTP API (embedded mode, the real service and engine): a retried write
 * gets its first answer, the same key with another body is 422, a bad key is 400, and a write
 * without a key gets one (echoed, so the client can retry with it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { b64, blankJpeg, startTestServer, type TestServer, sample } from "../harness.ts";

let srv: TestServer;
const photo = sample(1);

beforeAll(async () => {
  srv = await startTestServer();
  expect((await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } })).status).toBe(201);
});
afterAll(async () => {
  await srv?.stop();
});

const key = (k: string) => ({ "Idempotency-Key": k });

describe("Idempotency-Key", () => {
  test("a retried enrollment answers its own 201 (never USER_EXISTS); another key is a new request", async () => {
    const body = { user_id: "ann", face_id: "f1", image: b64(photo) };
    const first = await srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("enroll-ann-1") });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotency-key")).toBe("enroll-ann-1");
    const retry = await srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("enroll-ann-1") });
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    const other = await srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("enroll-ann-2") });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("USER_EXISTS");
  });

  test("a retried delete answers deleted: true; a new delete of the same user false", async () => {
    await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "bob", face_id: "f1", image: b64(photo) } });
    const first = await srv.call("DELETE", "/v1/companies/acme/users/bob", { headers: key("del-bob") });
    expect([first.status, first.body.deleted]).toEqual([200, true]);
    const retry = await srv.call("DELETE", "/v1/companies/acme/users/bob", { headers: key("del-bob") });
    expect([retry.status, retry.body.deleted]).toEqual([200, true]);
    const fresh = await srv.call("DELETE", "/v1/companies/acme/users/bob", { headers: key("del-bob-2") });
    expect(fresh.body.deleted).toBe(false);
  });

  test("an error is the first answer too: its retry gets the same error", async () => {
    const blank = await blankJpeg();
    const body = { user_id: "nob", face_id: "f1", image: b64(blank) };
    const first = await srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("noface") });
    expect([first.status, first.body.error.code]).toEqual([422, "NO_FACE"]);
    const retry = await srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("noface") });
    expect(retry.body).toEqual(first.body);
  });

  test("the same key with another body: 422 IDEMPOTENCY_KEY_REUSED, nothing written", async () => {
    const a = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "cy", face_id: "f1", image: b64(photo) }, headers: key("reuse") });
    expect(a.status).toBe(201);
    const b = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "dee", face_id: "f1", image: b64(photo) }, headers: key("reuse") });
    expect([b.status, b.body.error.code]).toEqual([422, "IDEMPOTENCY_KEY_REUSED"]);
    expect((await srv.call("GET", "/v1/companies/acme/users/dee/faces")).body.face_ids).toEqual([]);
  });

  test("a malformed key: 400 INVALID_IDEMPOTENCY_KEY", async () => {
    for (const bad of ["", "x".repeat(256), "has space", "caf\u00e9"]) {
      const r = await srv.call("DELETE", "/v1/companies/acme/users/zz", { headers: key(bad) });
      expect([bad.length, r.status, r.body?.error?.code]).toEqual([bad.length, 400, "INVALID_IDEMPOTENCY_KEY"]);
    }
  });

  test("a write without a key gets one, echoed; reads get none", async () => {
    const r = await srv.call("POST", "/v1/companies", { json: { company_id: "beta" } });
    expect(r.headers.get("idempotency-key")).toMatch(/^[0-9a-f-]{36}$/);
    const again = await srv.call("POST", "/v1/companies", { json: { company_id: "beta" }, headers: key(r.headers.get("idempotency-key")!) });
    expect([again.status, again.body.created]).toEqual([201, true]);
    expect((await srv.call("GET", "/v1/stats")).headers.get("idempotency-key")).toBeNull();
  });

  test("concurrent duplicates of one enrollment: both 201 with the same face, one write", async () => {
    const body = { user_id: "eve", face_id: "f1", image: b64(photo) };
    const [a, b] = await Promise.all([
      srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("dup-eve") }),
      srv.call("POST", "/v1/companies/acme/users", { json: body, headers: key("dup-eve") }),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body).toEqual(b.body);
  });
});
