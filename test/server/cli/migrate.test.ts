/**
 * `facegate migrate` on real photos: a sample of LFW dev people laid out as the old system kept them
 * (its initial_db.json, with another model's vectors and extra fields per person, and a folder of the
 * original photos named `<face_id>.jpg`), migrated through a running server with a key; then OTHER
 * photos of the same people are recognized through the API, by id and name. A re-run enrolls nothing;
 * a crash between the gallery and the journal enrolls nothing twice; the store-direct mode with a
 * mapping CSV gives the same. Skips without the datasets (saying so).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiKeys } from "../../../server/http/auth.ts";
import { dataset, describeDatasets, ROOT, testDatasets } from "../../helpers/datasets.ts";
import { b64, startTestServer, type TestServer } from "../harness.ts";

setDefaultTimeout(120_000);

const KEY = "migrate-hr-key";
const PEOPLE = 30;

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bun", join(ROOT, "server/cli/facegate.ts"), ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** 512 numbers of "another model": what the old system's vectors are to this engine. */
const otherModelVector = (seed: number) => Array.from({ length: 512 }, (_, i) => Math.sin(seed * 7.7 + i * 1.3));

describeDatasets("facegate migrate: the old system's file and photos → re-enrolled, recognized through the API", () => {
  const tmp = mkdtempSync(join(tmpdir(), "facegate-migrate-"));
  const photos = join(tmp, "photos");
  const file = join(tmp, "initial_db.json");
  const journal = join(tmp, "initial_db.json.journal.jsonl");
  /** employee id → [name, the photo held back for recognition] */
  const people = new Map<string, { name: string; other: string }>();
  let srv: TestServer;

  beforeAll(async () => {
    mkdirSync(photos);
    const lfw = dataset("lfw-dev/images");
    const names = readdirSync(lfw)
      .sort()
      .filter((n) => readdirSync(join(lfw, n)).length >= 2)
      .slice(0, PEOPLE);
    const doc = {
      companies: { acme: {} },
      users: { acme: {} as Record<string, object> },
      faces: { acme: [] as Array<{ face_id: string; user_id: string }> },
      embeddings: {} as Record<string, number[]>,
    };
    names.forEach((person, i) => {
      const userId = `emp_${String(i + 1).padStart(4, "0")}`;
      const faceId = `face_${String(i + 1).padStart(4, "0")}`;
      const [first, second] = readdirSync(join(lfw, person)).sort();
      copyFileSync(join(lfw, person, first!), join(photos, `${faceId}.jpg`));
      people.set(userId, { name: person.replaceAll("_", " "), other: join(lfw, person, second!) });
      // the old system's extra fields: the name, and what else it kept
      doc.users.acme[userId] = { user_id: userId, faces: [faceId], name: person.replaceAll("_", " "), department: i % 2 ? "ops" : "sales", badge: 1000 + i };
      doc.faces.acme.push({ face_id: faceId, user_id: userId });
      doc.embeddings[faceId] = otherModelVector(i);
    });
    // the cases a real migration meets: a photo that is gone, a photo without a face, a person without any face
    doc.users.acme.emp_gone = { user_id: "emp_gone", faces: ["face_gone"], name: "Gone Photo" };
    doc.faces.acme.push({ face_id: "face_gone", user_id: "emp_gone" });
    doc.users.acme.emp_fruit = { user_id: "emp_fruit", faces: ["face_fruit"] };
    doc.faces.acme.push({ face_id: "face_fruit", user_id: "emp_fruit" });
    const noface = dataset("scenes/noface");
    copyFileSync(join(noface, readdirSync(noface).filter((f) => f.endsWith(".jpg")).sort()[0]!), join(photos, "face_fruit.jpg"));
    doc.users.acme.emp_nophoto = { user_id: "emp_nophoto", faces: [] };
    writeFileSync(file, JSON.stringify(doc));
    srv = await startTestServer({ keys: new ApiKeys({ [KEY]: ["acme"] }, false) });
  });

  afterAll(async () => {
    await srv?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const migrate = (extra: string[] = []) => cli(["migrate", file, photos, "--url", srv.url, "--key", KEY, ...extra]);
  const facesInGallery = () => srv.service.gallery.stats().faces;

  testDatasets("migrate through the running server: everyone with a usable photo enrolled, with their name; the rest reported", async () => {
    const report = join(tmp, "report.json");
    const r = await migrate(["--report", report]);
    expect(r.code).toBe(1); // not every face could be enrolled: said so
    expect(r.out).toContain(`migrate: ${PEOPLE + 2} faces in the file`);
    expect(r.out).toContain(`enrolled now:           ${PEOPLE}`);
    expect(r.out).toContain("photo missing:          1");
    expect(r.out).toContain("no face in the photo:   1");
    expect(r.out).toContain("people without any face id in the file (not created): 1");
    const json = JSON.parse(readFileSync(report, "utf8"));
    expect(json.problems.map((p: { face: string; outcome: string }) => `${p.face}:${p.outcome}`).sort()).toEqual(["face_fruit:no_face", "face_gone:photo_missing"]);
    expect(facesInGallery()).toBe(PEOPLE);
    // the old ids and the old entries' fields
    const ada = await srv.call("GET", "/v1/companies/acme/users/emp_0001", { key: KEY });
    expect(ada.body).toMatchObject({ user_id: "emp_0001", name: people.get("emp_0001")!.name, metadata: { department: "sales", badge: 1000 }, face_ids: ["face_0001"] });
  });

  testDatasets("the same people are recognized afterwards from OTHER photos, through the API: by id and name, never as someone else", async () => {
    let right = 0;
    for (const [userId, { name, other }] of people) {
      const r = await srv.call("POST", "/v1/companies/acme/recognize", { key: KEY, json: { image: b64(readFileSync(other)) } });
      expect(r.status).toBe(200);
      if (r.body.user_id === userId) {
        right++;
        expect(r.body.name).toBe(name);
      } else expect({ userId, got: r.body.user_id }).toEqual({ userId, got: null });
    }
    // LFW's second photos are often years apart: most, not all, clear the open-set threshold
    expect(right / people.size).toBeGreaterThanOrEqual(0.8);
  });

  testDatasets("a re-run enrolls nothing: every face with a final outcome is in the journal", async () => {
    const r = await migrate();
    expect(r.out).toContain("enrolled now:           0");
    expect(r.out).toContain("already in the gallery: 0");
    expect(r.out).toContain(`done by an earlier run: ${PEOPLE + 1} (from the journal)`); // everyone, and the photo without a face
    expect(r.out).toContain("photo missing:          1"); // looked for again
    expect(facesInGallery()).toBe(PEOPLE);
  });

  testDatasets("a crash between the gallery and the journal (lines lost, the last one torn): nothing enrolled twice", async () => {
    const lines = readFileSync(journal, "utf8").split("\n").filter((l) => l.trim() !== "");
    const lost = lines.slice(-6);
    writeFileSync(journal, `${lines.slice(0, -6).join("\n")}\n{"company":"acme","user":"emp_00`);
    const lostEnrolled = new Set(lost.map((l) => JSON.parse(l)).filter((e) => e.outcome === "enrolled").map((e) => e.face)).size;
    expect(lostEnrolled).toBeGreaterThan(0);
    const r = await migrate();
    expect(r.out).toContain("enrolled now:           0");
    // the gallery answered FACE_EXISTS for the faces it had: counted, not enrolled again
    expect(r.out).toContain(`already in the gallery: ${lostEnrolled}`);
    expect(facesInGallery()).toBe(PEOPLE);
    // the journal is whole again: a further run reads every line
    expect((await migrate()).out).toContain(`done by an earlier run: ${PEOPLE + 1} (from the journal)`);
  });

  testDatasets("into the store directly (no server) with a mapping CSV: the same people, recognizable", async () => {
    const data = join(tmp, "data");
    const mapDir = join(tmp, "renamed");
    mkdirSync(mapDir);
    const rows = ["face_id,file"];
    for (const f of readdirSync(photos)) {
      copyFileSync(join(photos, f), join(mapDir, `photo-${f}`));
      rows.push(`${f.replace(/\.jpg$/, "")},"photo-${f}"`);
    }
    const map = join(tmp, "map.csv");
    writeFileSync(map, `${rows.join("\r\n")}\r\n`);
    const r = await cli(["migrate", file, mapDir, "--map", map, "--journal", join(tmp, "direct.jsonl")], { DATA_DIR: data });
    expect(r.out).toContain(`enrolled now:           ${PEOPLE}`);
    const [userId, { other, name }] = [...people][0]!;
    const rec = JSON.parse((await cli(["recognize", "acme", other], { DATA_DIR: data })).out);
    expect(rec).toMatchObject({ user_id: userId, name });
  });
});
