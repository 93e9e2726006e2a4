/**
 * Issue 16: "a deleted person comes back". An add-face request spends ~30 ms in the engine after the
 * service has checked that the user exists; a delete of that user arriving meanwhile must win: the
 * late write is refused (USER_NOT_FOUND, checked inside the store's write) and the user stays deleted.
 * Real server, real engine, both embedded stores.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { b64, sample, startTestServer, type TestServer } from "../harness.ts";

// engine work on a shared machine: more than bun's 5 s default also under a bare `bun test FILE` (bun applies
// setDefaultTimeout only when the test file itself calls it; `bun run test` passes --timeout 60000)
setDefaultTimeout(60_000);

const RUNS = 10;

for (const sqlite of [true, false]) {
  describe(`add face racing delete user (${sqlite ? "SQLite" : "memory"} store)`, () => {
    let srv: TestServer;
    beforeAll(async () => {
      srv = await startTestServer({ sqlite });
      expect((await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } })).status).toBe(201);
    });
    afterAll(async () => {
      await srv?.stop();
    });

    test(`delete 5 ms after an add face, ${RUNS} times: the delete wins, the user stays deleted`, async () => {
      const photo = b64(sample(2));
      const statuses: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const user = `u${i}`;
        const enrolled = await srv.call("POST", "/v1/companies/acme/users", { json: { user_id: user, face_id: "f1", image: photo } });
        expect(enrolled.status).toBe(201);
        const add = srv.call("POST", `/v1/companies/acme/users/${user}/faces`, { json: { face_id: "f2", image: photo } });
        await Bun.sleep(5);
        const del = await srv.call("DELETE", `/v1/companies/acme/users/${user}`);
        expect(del.body).toMatchObject({ deleted: true });
        const added = await add;
        statuses.push(added.status);
        // either the add finished before the delete (and was deleted with the user) or it is refused
        if (added.status !== 201) expect(added.body.error.code).toBe("USER_NOT_FOUND");
        const faces = await srv.call("GET", `/v1/companies/acme/users/${user}/faces`);
        expect(faces.body.face_ids).toEqual([]);
        const stats = await srv.call("GET", "/v1/stats?detail=companies");
        const perCompany = stats.body.cache_info?.acme ?? stats.body.companies?.acme;
        expect(perCompany).toMatchObject({ users: 0, faces: 0 });
      }
      // the race really happened: the engine work outlasts the 5 ms, so the delete came first
      expect(statuses.filter((s) => s === 404).length).toBeGreaterThan(RUNS / 2);
    }, 120_000);

    test("after the races the store replays to the same (empty) company: nothing comes back on restart", async () => {
      const replayed = { users: 0, faces: 0 };
      const stop = await srv.service.store.watch((e) => {
        if (e.type === "user.put") replayed.users++;
        if (e.type === "face.put") replayed.faces++;
      });
      stop();
      expect(replayed).toEqual({ users: 0, faces: 0 });
    });
  });
}
