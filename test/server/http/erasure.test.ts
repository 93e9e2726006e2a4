/**
 * Erasure erases (issue 16): after DELETE of a user, a company or a face, the embedding's bytes are
 * in none of the database's files, before and after a clean shutdown. The probe is the embedding's
 * first 32 bytes as float32, exactly as SQLite stores them; it is checked to be there before the delete.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

// engine work on a shared machine: more than bun's 5 s default also under a bare `bun test FILE` (bun applies
// setDefaultTimeout only when the test file itself calls it; `bun run test` passes --timeout 60000)
setDefaultTimeout(60_000);

/** The first 8 floats of an embedding as the little-endian float32 bytes the store writes. */
function probe(embedding: Float32Array): Buffer {
  return Buffer.from(embedding.slice(0, 8).buffer);
}

/** The face's embedding exactly as the store holds it (from a replay of the store). */
async function stored(srv: TestServer, company: string, user: string, face: string): Promise<Float32Array> {
  let found: Float32Array | undefined;
  const stop = await srv.service.store.watch((e) => {
    if (e.type === "face.put" && e.face.companyId === company && e.face.userId === user && e.face.faceId === face) found = e.face.embedding;
  });
  stop();
  if (!found) throw new Error(`${company}/${user}/${face} is not in the store`);
  return found;
}

/** Every file of the database (the WAL and shared memory too, while they exist). */
function onDisk(dir: string, bytes: Buffer): string[] {
  const db = join(dir, "facegate.db");
  return [db, `${db}-wal`, `${db}-shm`].filter((f) => existsSync(f) && readFileSync(f).includes(bytes));
}

describe("SQLite: deleted embeddings leave the disk", () => {
  const dir = mkdtempSync(join(tmpdir(), "facegate-erasure-"));
  let srv: TestServer;
  const start = () => startTestServer({ service: { store: "sqlite", dataDir: dir } });
  beforeAll(async () => {
    srv = await start();
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function enroll(company: string, user: string, face: string, photo: 1 | 2 | 3 | 4 | 5 | 6): Promise<Buffer> {
    await srv.call("POST", "/v1/companies", { json: { company_id: company } });
    const exists = (await srv.call("GET", `/v1/companies/${company}/users/${user}/faces`)).body.face_ids.length > 0;
    const r = exists
      ? await srv.call("POST", `/v1/companies/${company}/users/${user}/faces`, { json: { face_id: face, image: b64(sample(photo)) } })
      : await srv.call("POST", `/v1/companies/${company}/users`, { json: { user_id: user, face_id: face, image: b64(sample(photo)) } });
    expect(r.status).toBe(201);
    const bytes = probe(await stored(srv, company, user, face));
    expect(onDisk(dir, bytes).length).toBeGreaterThan(0); // the probe finds it while it is enrolled
    return bytes;
  }

  test("DELETE user: ann's embeddings are gone from every file at once, and after a clean shutdown", async () => {
    const ann1 = await enroll("acme", "ann", "f1", 1);
    const ann2 = await enroll("acme", "ann", "f2", 3);
    const bob = await enroll("acme", "bob", "f1", 2);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/ann")).body).toMatchObject({ deleted: true });
    expect(onDisk(dir, ann1)).toEqual([]);
    expect(onDisk(dir, ann2)).toEqual([]);
    expect(onDisk(dir, bob).length).toBeGreaterThan(0); // only what was deleted
    await srv.stop();
    expect(onDisk(dir, ann1)).toEqual([]);
    expect(onDisk(dir, ann2)).toEqual([]);
    srv = await start();
    expect((await srv.call("GET", "/v1/companies/acme/users/bob/faces")).body.face_ids).toEqual(["f1"]);
  });

  test("DELETE face and DELETE company erase too", async () => {
    const f2 = await enroll("acme", "bob", "f2", 4);
    expect((await srv.call("DELETE", "/v1/companies/acme/users/bob/faces/f2")).body).toMatchObject({ deleted: true });
    expect(onDisk(dir, f2)).toEqual([]);
    const carl = await enroll("beta", "carl", "c1", 5);
    const bob = probe(await stored(srv, "acme", "bob", "f1"));
    expect((await srv.call("DELETE", "/v1/companies/acme")).body).toMatchObject({ deleted: true });
    expect(onDisk(dir, bob)).toEqual([]);
    expect(onDisk(dir, carl).length).toBeGreaterThan(0);
    await srv.stop();
    expect(onDisk(dir, bob)).toEqual([]);
    expect(onDisk(dir, f2)).toEqual([]);
    srv = await start();
  });
});
