/**
 * A migration from the old workers, as an operator does it: their initial_db.json (the old format
 * exactly, embeddings computed by this engine from one set of photos) given as DATA_SOURCE=LOCAL_FILE:
 * refused while the model is undeclared, loaded with INITIAL_DATA_MODEL;
 * the server's log says what the old workers said; OTHER photos of those people are recognized over
 * HTTP; the store is marked initialised, so deleting everything and restarting leaves it empty.
 */
import { afterAll, beforeAll, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalize } from "../../../lib/core/internal.ts";
import { exportStore, largestFace } from "../../../lib/service/mod.ts";
import { describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";
import { b64, sharedEngine, startTestServer, type TestServer } from "../harness.ts";

// engine work on a shared machine: more than bun's 5 s default also under a bare `bun test FILE` (bun applies
// setDefaultTimeout only when the test file itself calls it; `bun run test` passes --timeout 60000)
setDefaultTimeout(60_000);

type OldDoc = {
  companies: Record<string, object>;
  users: Record<string, Record<string, { user_id: string; faces: string[] }>>;
  faces: Record<string, Array<{ face_id: string; user_id: string }>>;
  embeddings: Record<string, number[]>;
};

describeDatasets("old-format initial_db.json → recognition of other photos (real engine, HTTP, SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "facegate-olddata-"));
  const file = join(dir, "initial_db.json");
  /** company → person → photos held back for recognition */
  const heldBack: Record<string, Record<string, string[]>> = {};
  const sets = { company_bbt: ["bbt", 2], company_fr: ["face_recognition", 1] } as const;
  let srv: TestServer;
  const logs: Array<[string, string]> = [];

  const start = (initialDataModel?: string) =>
    startTestServer({
      service: { store: "sqlite", dataDir: dir, dataSource: "LOCAL_FILE", dataFile: file, initialDataModel },
      log: (level, message) => logs.push([level, message]),
    });
  /** What the first start (no model declared) logged and held. */
  let refusal: { lines: Array<[string, string]>; companies: number };

  beforeAll(async () => {
    const engine = await sharedEngine();
    const doc: OldDoc = { companies: {}, users: {}, faces: {}, embeddings: {} };
    let n = 0;
    for (const [company, [set, enrolled]] of Object.entries(sets)) {
      doc.companies[company] = {};
      doc.users[company] = {};
      doc.faces[company] = [];
      heldBack[company] = {};
      for (const who of listDataset("labelled", set)) {
        const photos = listDataset("labelled", set, who);
        if (photos.length <= enrolled) continue; // nothing left to recognise
        const faceIds: string[] = [];
        for (const photo of photos.slice(0, enrolled)) {
          const faces = await engine.analyze(readDataset("labelled", set, who, photo));
          const faceId = `face_${String(++n).padStart(3, "0")}`; // unique across companies, as there
          faceIds.push(faceId);
          doc.faces[company]!.push({ face_id: faceId, user_id: who });
          doc.embeddings[faceId] = Array.from(normalize(largestFace(faces).embedding));
        }
        doc.users[company]![who] = { user_id: who, faces: faceIds };
        heldBack[company]![who] = photos.slice(enrolled);
      }
    }
    writeFileSync(file, JSON.stringify(doc));
    // the file names no model, as the old system's never do: refused, the store stays empty and unmarked
    srv = await start();
    refusal = { lines: logs.splice(0), companies: (await srv.call("GET", "/v1/stats")).body.companies_count };
    await srv.stop();
    // declared (these vectors are this engine's): loaded
    srv = await start(engine.info().modelId);
  });

  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("naming no model, the file is refused with MODEL_MISMATCH and the three ways out; nothing is loaded", () => {
    expect(refusal.companies).toBe(0);
    const line = refusal.lines.find(([, m]) => m.startsWith("MODEL_MISMATCH"));
    expect(line?.[0]).toBe("error");
    for (const way of ["INSIGHTFACE_RECOGNIZER=", "facegate migrate", "INITIAL_DATA_MODEL="]) expect(line?.[1]).toContain(way);
  });

  test("with INITIAL_DATA_MODEL naming the engine's model, the file loads with the old workers' log lines", async () => {
    const messages = logs.map(([, m]) => m);
    expect(messages[0]).toBe(`Loading initial data from local file: ${file}`);
    expect(messages).toContain("Loaded 2 companies");
    expect(messages).toContain("Data consistency validation passed");
    expect(messages).toContain("Initial Data Statistics:");
    const stats = await srv.call("GET", "/v1/stats?detail=companies");
    const people = (c: string) => Object.keys(heldBack[c]!).length;
    expect(stats.body.companies_count).toBe(2);
    expect(stats.body.users_count).toBe(people("company_bbt") + people("company_fr"));
    expect(messages).toContain(`  Total Users: ${stats.body.users_count}`);
  });

  test("other photos of the people in the file are recognised over HTTP; a miss is unknown, never someone else", async () => {
    for (const [company, [set]] of Object.entries(sets)) {
      let right = 0;
      let total = 0;
      for (const [who, photos] of Object.entries(heldBack[company]!)) {
        for (const photo of photos) {
          const r = await srv.call("POST", `/v1/companies/${company}/recognize`, { json: { image: b64(readDataset("labelled", set, who, photo)) } });
          expect(r.status).toBe(200);
          total++;
          if (r.body.user_id === who) right++;
          else expect(r.body.user_id).toBeNull();
        }
      }
      expect(total).toBeGreaterThan(5);
      expect(right / total).toBeGreaterThanOrEqual(0.9);
    }
  });

  test("export in the old format gives the same document back", async () => {
    const exported = (await exportStore(srv.service.store, { format: "old" })) as OldDoc & { model?: string };
    const original = JSON.parse(readFileSync(file, "utf8")) as OldDoc;
    expect(exported.model).toBe(srv.service.engine.info().modelId);
    expect(Object.keys(exported.companies).sort()).toEqual(Object.keys(original.companies).sort());
    for (const c of Object.keys(original.users)) {
      for (const [u, entry] of Object.entries(original.users[c]!)) expect(exported.users[c]![u]!.faces.sort()).toEqual([...entry.faces].sort());
    }
    for (const [f, v] of Object.entries(original.embeddings)) {
      const got = exported.embeddings[f]!;
      for (let i = 0; i < v.length; i += 37) expect(got[i]).toBeCloseTo(v[i]!, 6);
    }
  });

  test("the store is initialised: everything deleted stays deleted after a restart (the file is not re-imported)", async () => {
    for (const company of Object.keys(sets)) expect((await srv.call("DELETE", `/v1/companies/${company}`)).body.deleted).toBe(true);
    await srv.stop(); // the data dir is this test's: it stays
    logs.length = 0;
    srv = await start();
    expect((await srv.call("GET", "/v1/stats?detail=companies")).body.companies_count).toBe(0);
    expect(logs.some(([, m]) => m.includes("skipped: the store was initialised before"))).toBe(true);
    expect(logs.some(([, m]) => m.startsWith("Loading initial data"))).toBe(false);
  });
});
