/**
 * Display names (issue 22): optional at enroll (JSON and multipart, metadata as JSON text there), shown
 * by get, list, recognize and search, changed and removed by PATCH, kept across a restart (SQLite),
 * never required; bad names and metadata are a 400 with INVALID_ARGUMENT.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

const dir = mkdtempSync(join(tmpdir(), "facegate-names-"));
let srv: TestServer;
const start = () => startTestServer({ service: { store: "sqlite", dataDir: dir } });

beforeAll(async () => {
  srv = await start();
  await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } });
});
afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("display names", () => {
  test("enroll with a name (JSON): the answer, get, list, recognize and search show it", async () => {
    const r = await srv.call("POST", "/v1/companies/acme/users", {
      json: { user_id: "ada", face_id: "1", image: b64(sample(1)), name: "  Ada Lovelace ", metadata: { dept: "R&D", badge: 1815 }, return_embedding: true },
    });
    expect(r.status).toBe(201);
    expect(r.body.name).toBe("Ada Lovelace"); // trimmed
    const got = await srv.call("GET", "/v1/companies/acme/users/ada");
    expect(got.body).toEqual({ company_id: "acme", user_id: "ada", name: "Ada Lovelace", metadata: { dept: "R&D", badge: 1815 }, face_ids: ["1"] });
    const list = await srv.call("GET", "/v1/companies/acme/users");
    expect(list.body.users).toEqual([{ user_id: "ada", name: "Ada Lovelace", faces: 1 }]);
    const rec = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(sample(1)), all_faces: true } });
    expect(rec.body).toMatchObject({ user_id: "ada", name: "Ada Lovelace" });
    expect(rec.body.faces[0]).toMatchObject({ user_id: "ada", name: "Ada Lovelace" });
    // strangers in the photo carry no name
    for (const f of rec.body.faces.slice(1)) if (f.user_id === null) expect(f.name).toBeUndefined();
    const search = await srv.call("POST", "/v1/companies/acme/search", { json: { embedding: r.body.embedding } });
    expect(search.body).toMatchObject({ user_id: "ada", name: "Ada Lovelace" });
  });

  test("multipart: name as a field, metadata as JSON text; without a name nothing is shown", async () => {
    const form = new FormData();
    form.set("user_id", "bo");
    form.set("face_id", "1");
    form.set("name", "Bo Ström");
    form.set("metadata", JSON.stringify({ team: "night" }));
    form.set("image", new Blob([sample(2)], { type: "image/jpeg" }), "bo.jpg");
    const r = await srv.call("POST", "/v1/companies/acme/users", { body: form });
    expect(r.status).toBe(201);
    expect((await srv.call("GET", "/v1/companies/acme/users/bo")).body).toMatchObject({ name: "Bo Ström", metadata: { team: "night" } });
    const plain = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "cy", face_id: "1", image: b64(sample(3)) } });
    expect(plain.status).toBe(201);
    expect(plain.body.name).toBeUndefined();
    expect((await srv.call("GET", "/v1/companies/acme/users/cy")).body).toEqual({ company_id: "acme", user_id: "cy", face_ids: ["1"] });
  });

  test("PATCH changes the name, keeps what is left out, removes what is null; 404 for an unknown user", async () => {
    const renamed = await srv.call("PATCH", "/v1/companies/acme/users/ada", { json: { name: "Ada King" } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "Ada King", metadata: { dept: "R&D", badge: 1815 }, face_ids: ["1"] });
    expect(typeof renamed.body.revision).toBe("number");
    const noMeta = await srv.call("PATCH", "/v1/companies/acme/users/ada", { json: { metadata: null } });
    expect(noMeta.body.metadata).toBeUndefined();
    expect(noMeta.body.name).toBe("Ada King");
    expect((await srv.call("PATCH", "/v1/companies/acme/users/nobody", { json: { name: "X" } })).status).toBe(404);
    expect((await srv.call("GET", "/v1/companies/acme/users/nobody")).body.error.code).toBe("USER_NOT_FOUND");
    expect((await srv.call("GET", "/v1/companies/nowhere/users/ada")).body.error.code).toBe("COMPANY_NOT_FOUND");
  });

  test("bad names and metadata: 400 INVALID_ARGUMENT, nothing written", async () => {
    const bad: object[] = [
      { name: "" },
      { name: "   " },
      { name: "Ada\nLovelace" },
      { name: "x".repeat(201) },
      { name: 42 },
      { metadata: { nested: { no: 1 } } },
      { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) },
      { metadata: { big: "x".repeat(1001) } },
      {},
      { name: "Ok", extra: 1 },
    ];
    for (const body of bad) {
      const r = await srv.call("PATCH", "/v1/companies/acme/users/ada", { json: body });
      expect({ body, status: r.status, code: r.body.error?.code }).toEqual({ body, status: 400, code: "INVALID_ARGUMENT" });
    }
    const enroll = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: "dee", face_id: "1", image: b64(sample(4)), name: "a\u0000b" } });
    expect(enroll.status).toBe(400);
    expect((await srv.call("GET", "/v1/companies/acme/users/dee")).status).toBe(404);
    expect((await srv.call("GET", "/v1/companies/acme/users/ada")).body.name).toBe("Ada King");
  });

  test("names survive a restart (SQLite)", async () => {
    await srv.stop();
    srv = await start();
    expect((await srv.call("GET", "/v1/companies/acme/users/ada")).body.name).toBe("Ada King");
    expect((await srv.call("GET", "/v1/companies/acme/users/bo")).body.name).toBe("Bo Ström");
    const rec = await srv.call("POST", "/v1/companies/acme/recognize", { json: { image: b64(sample(1)) } });
    expect(rec.body.name).toBe("Ada King");
  });
});
