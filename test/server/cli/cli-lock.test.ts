/**
 * Issue 10: with a server running on DATA_DIR, the in-process CLI used to enroll behind its back (the
 * server never saw those people). Now it refuses at once, says why and suggests --url; with --url the
 * same command goes through the server; once the server has stopped, the in-process CLI works again.
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FACE_API_DEMO, ROOT } from "../../helpers/datasets.ts";
import { startTestServer, type TestServer } from "../harness.ts";

// engine work on a shared machine: more than bun's 5 s default also under a bare `bun test FILE` (bun applies
// setDefaultTimeout only when the test file itself calls it; `bun run test` passes --timeout 60000)
setDefaultTimeout(60_000);

const tmp = mkdtempSync(join(tmpdir(), "facegate-cli-lock-"));
const dataDir = join(tmp, "data");
const people = join(tmp, "people");
let srv: TestServer | undefined;

beforeAll(async () => {
  mkdirSync(join(people, "ann"), { recursive: true });
  copyFileSync(join(FACE_API_DEMO, "sample1.jpg"), join(people, "ann", "sample1.jpg"));
  srv = await startTestServer({ service: { store: "sqlite", dataDir } });
  expect((await srv.call("POST", "/v1/companies", { json: { company_id: "acme" } })).status).toBe(201);
});
afterAll(async () => {
  await srv?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(["bun", join(ROOT, "server/cli/facegate.ts"), ...args], {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", DATA_DIR: dataDir },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err, ms: performance.now() - t0 };
}

test("the in-process CLI refuses a database the server holds, and suggests --url", async () => {
  const r = await cli(["enroll", "acme", people]);
  expect(r.code).toBe(1);
  expect(r.err).toContain("UNAVAILABLE");
  expect(r.err).toContain(join(dataDir, "facegate.db"));
  expect(r.err).toContain("--url");
  // nothing was written behind the server
  const faces = await srv!.call("GET", "/v1/companies/acme/users/ann/faces");
  expect(faces.body.face_ids).toEqual([]);
});

test("with --url the same command goes through the server, which sees the person at once", async () => {
  const r = await cli(["enroll", "acme", people, "--url", srv!.url]);
  expect(r.code).toBe(0);
  expect((await srv!.call("GET", "/v1/companies/acme/users/ann/faces")).body.face_ids).toEqual(["sample1"]);
});

test("once the server has stopped, the in-process CLI opens the database", async () => {
  await srv!.stop();
  srv = undefined;
  const r = await cli(["recognize", "acme", join(FACE_API_DEMO, "sample1.jpg")]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out).user_id).toBe("ann");
});
