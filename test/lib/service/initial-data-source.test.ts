/**
 * Initial data at service start: LOCAL_FILE / API / NONE, the documented fallbacks (missing file,
 * invalid JSON, API down, slow, HTTP error), applied only to an empty store; check-data; export.
 * The API is a real local HTTP server (Bun.serve).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { checkData } from "../../../lib/service/check-data.ts";
import { exportStore } from "../../../lib/service/export-data.ts";
import { LocalFaceService, SqliteGalleryStore } from "../../../lib/service/mod.ts";
import { oldDocument, validDocument } from "../../helpers/initial-data.ts";

let engine: FaceEngine;
const dir = mkdtempSync(join(tmpdir(), "facegate-initial-"));
const goodFile = join(dir, "good.json");
const badJsonFile = join(dir, "bad.json");
const inconsistentFile = join(dir, "inconsistent.json");
let server: ReturnType<typeof Bun.serve>;
let modelId: string;

function docWithEngineModel(): Record<string, unknown> {
  return { ...validDocument(), model: modelId };
}

beforeAll(async () => {
  engine = await createEngine();
  modelId = engine.info().modelId;
  writeFileSync(goodFile, JSON.stringify(docWithEngineModel()));
  writeFileSync(badJsonFile, '{"companies": [');
  const inconsistent = docWithEngineModel() as { faces: unknown[] };
  inconsistent.faces.push({ company_id: "acme", user_id: "bob", face_id: "b1" });
  writeFileSync(inconsistentFile, JSON.stringify(inconsistent));
  server = Bun.serve({
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/data") return Response.json(docWithEngineModel());
      if (path === "/old") return Response.json(oldDocument());
      if (path === "/slow") {
        await Bun.sleep(1500);
        return Response.json(docWithEngineModel());
      }
      if (path === "/invalid") return new Response("<html>oops</html>", { headers: { "content-type": "application/json" } });
      return new Response("broken", { status: 500 });
    },
  });
});

afterAll(async () => {
  server.stop(true);
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a service with a memory store and captures its log lines. */
async function start(env: Record<string, string>, store = new MemoryGalleryStore()) {
  const lines: Array<[string, string]> = [];
  const service = await LocalFaceService.create({ engine, store, env, log: (level, message) => lines.push([level, message]) });
  const text = lines.map(([l, m]) => `${l}: ${m}`).join("\n");
  return { service, lines, text };
}

describe("DATA_SOURCE at start", () => {
  test("LOCAL_FILE: the data is loaded and the statistics block is logged", async () => {
    const { service, text } = await start({ DATA_SOURCE: "LOCAL_FILE", DATA_FILE: goodFile });
    try {
      const s = await service.getCacheStats();
      expect(s).toMatchObject({ companiesCount: 2, usersCount: 3, facesCount: 3, embeddingsCount: 3 });
      expect(s.companies.acme).toEqual({ users: 2, faces: 2 });
      expect((await service.getUserFaces({ companyId: "acme", userId: "alice" })).faceIds).toEqual(["a1", "a2"]);
      // the old workers' lines, in their order
      const want = [
        /^info: Loading initial data from local file: .*good\.json$/m,
        /^info: Loaded 2 companies$/m,
        /^info: Loaded 3 users across 2 companies$/m,
        /^info: Loaded 3 faces across 2 companies$/m,
        /^info: Loaded 3 embeddings$/m,
        /^info: Data consistency validation passed$/m,
        /^info: Initial Data Statistics:$/m,
        /^info: {3}Companies: 2$/m,
        /^info: {3}Total Users: 3$/m,
        /^info: {3}Total Faces: 3$/m,
        /^info: {3}Total Embeddings: 3$/m,
      ];
      let at = 0;
      for (const re of want) {
        const m = re.exec(text.slice(at));
        expect(m?.[0] ?? `missing after ${at}: ${re}`).toBe(m?.[0] ?? "");
        at += (m?.index ?? 0) + (m?.[0].length ?? 0);
      }
      expect(service.initialData).toMatchObject({ applied: true });
      // the loaded embeddings are searchable: compare against one of them
      expect(service.gallery.search("acme", service.gallery.getEmbedding("acme", "alice", "a2")!)[0]).toMatchObject({ userId: "alice", faceId: "a2" });
    } finally {
      await service.close();
    }
  });

  test("LOCAL_FILE with inconsistencies: warnings are logged, the valid part is loaded", async () => {
    const { service, lines } = await start({ DATA_SOURCE: "LOCAL_FILE", DATA_FILE: inconsistentFile });
    try {
      expect(lines.some(([l, m]) => l === "warn" && m === "Data consistency issues found: 1")).toBe(true);
      expect(lines.some(([l, m]) => l === "warn" && m.startsWith("  - ") && m.includes('"acme"/"bob"/"b1" has no embedding'))).toBe(true);
      expect((await service.getCacheStats()).facesCount).toBe(3);
    } finally {
      await service.close();
    }
  });

  // the old workers' words: a missing file is a warning, the rest errors
  for (const [name, env, pattern, level] of [
    ["missing file", { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: join(dir, "nope.json") }, /^Data file not found: .*nope\.json, starting with empty data$/, "warn"],
    ["invalid JSON", { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: badJsonFile }, /^Invalid JSON in data file: .+, starting with empty data$/, "error"],
    ["API answering HTTP 500", { DATA_SOURCE: "API", API_URL: "" }, /^API request failed: HTTP 500/, "error"],
    ["API down", { DATA_SOURCE: "API", API_URL: "http://127.0.0.1:9/data", API_TIMEOUT: "2" }, /^API request failed: /, "error"],
    ["API slower than API_TIMEOUT", { DATA_SOURCE: "API", API_URL: "/slow", API_TIMEOUT: "0.3" }, /^API request timed out after 0.3 seconds/, "error"],
    ["API answering invalid JSON", { DATA_SOURCE: "API", API_URL: "/invalid" }, /^Invalid JSON from API: /, "error"],
  ] as const) {
    test(`${name}: one clear ${level} line, the service starts without initial data`, async () => {
      const e: Record<string, string> = { ...env };
      if (e.API_URL !== undefined && !e.API_URL.startsWith("http")) e.API_URL = `http://127.0.0.1:${server.port}${e.API_URL || "/error"}`;
      const t0 = performance.now();
      const { service, lines } = await start(e);
      try {
        const problems = lines.filter(([l]) => l !== "info");
        expect(problems.length).toBe(1);
        expect(problems[0][0]).toBe(level);
        expect(problems[0][1]).toMatch(pattern);
        expect(problems[0][1]).toEndWith(", starting with empty data");
        expect((await service.getCacheStats()).companiesCount).toBe(0);
        expect(service.initialData).toMatchObject({ applied: false });
        if (name.includes("slower")) expect(performance.now() - t0).toBeLessThan(1400);
      } finally {
        await service.close();
      }
    });
  }

  test("API up: loaded from the HTTP endpoint", async () => {
    const { service, text } = await start({ DATA_SOURCE: "API", API_URL: `http://127.0.0.1:${server.port}/data`, API_TIMEOUT: "5" });
    try {
      expect((await service.getCacheStats()).facesCount).toBe(3);
      expect(text).toContain(`info: Loading initial data from API: http://127.0.0.1:${server.port}/data`);
      expect(text).toMatch(/Loaded 3 embeddings\ninfo: Successfully loaded data from API\ninfo: Data consistency validation passed/);
    } finally {
      await service.close();
    }
  });

  test("API answering the old system's format, naming no model: refused with the three ways out; nothing loaded", async () => {
    const url = `http://127.0.0.1:${server.port}/old`;
    const { service, lines } = await start({ DATA_SOURCE: "API", API_URL: url });
    try {
      expect((await service.getCacheStats()).companiesCount).toBe(0);
      const refusal = lines.find(([, m]) => m.includes("MODEL_MISMATCH"));
      expect(refusal?.[0]).toBe("error");
      expect(refusal?.[1]).toContain(`this engine produces ${modelId}`);
      for (const way of ["INSIGHTFACE_RECOGNIZER=", "facegate migrate", "INITIAL_DATA_MODEL="]) expect(refusal?.[1]).toContain(way);
      expect(refusal?.[1]).toEndWith(", starting with empty data");
      // no marker: the next start (with the model declared) loads it
      expect(await service.store.isInitialised?.()).toBe(false);
    } finally {
      await service.close();
    }
  });

  test("LOCAL_FILE in the old format, naming no model: refused the same way", async () => {
    const file = join(dir, "old-undeclared.json");
    writeFileSync(file, JSON.stringify(oldDocument()));
    const { service, lines } = await start({ DATA_SOURCE: "LOCAL_FILE", DATA_FILE: file });
    try {
      expect((await service.getCacheStats()).companiesCount).toBe(0);
      expect(lines.some(([level, m]) => level === "error" && m.startsWith("MODEL_MISMATCH: the file names no embedding model"))).toBe(true);
    } finally {
      await service.close();
    }
  });

  test("API answering the old system's format with INITIAL_DATA_MODEL naming the engine's model: loaded, with the old log lines", async () => {
    const url = `http://127.0.0.1:${server.port}/old`;
    const { service, lines } = await start({ DATA_SOURCE: "API", API_URL: url, INITIAL_DATA_MODEL: modelId });
    try {
      const s = await service.getCacheStats();
      expect(s).toMatchObject({ companiesCount: 3, usersCount: 3, facesCount: 3 });
      expect(s.companies.company_123).toEqual({ users: 2, faces: 2 });
      expect(lines.map(([, m]) => m).slice(0, 7)).toEqual([
        `Loading initial data from API: ${url}`,
        "Loaded 3 companies",
        "Loaded 3 users across 2 companies",
        "Loaded 3 faces across 2 companies",
        "Loaded 3 embeddings",
        "Successfully loaded data from API",
        "Data consistency validation passed",
      ]);
    } finally {
      await service.close();
    }
  });

  test("applied once: a store emptied after its initial data stays empty at the next start", async () => {
    const store = new MemoryGalleryStore();
    const env = { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: goodFile };
    const first = await start(env, store);
    expect(first.service.initialData).toMatchObject({ applied: true });
    for (const companyId of first.service.gallery.companyIds()) await first.service.deleteCompany({ companyId });
    await first.service.close();
    const second = await start(env, store);
    try {
      expect(second.service.initialData).toMatchObject({ applied: false });
      expect(second.service.gallery.companyIds()).toEqual([]);
      expect(second.text).toMatch(/skipped: the store was initialised before/);
    } finally {
      await second.service.close();
    }
  });

  test("a failed load does not mark the store: the next start loads the file once it is there", async () => {
    const store = new MemoryGalleryStore();
    const later = join(dir, "later.json");
    const env = { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: later };
    const first = await start(env, store);
    await first.service.close();
    expect(await store.isInitialised()).toBe(false);
    writeFileSync(later, JSON.stringify(docWithEngineModel()));
    const second = await start(env, store);
    try {
      expect(second.service.initialData).toMatchObject({ applied: true });
      expect(await store.isInitialised()).toBe(true);
    } finally {
      await second.service.close();
    }
  });

  test("applied to an empty store only: a store with data keeps it and is not re-imported", async () => {
    const store = new MemoryGalleryStore();
    await store.createCompany("existing");
    const { service, text } = await start({ DATA_SOURCE: "LOCAL_FILE", DATA_FILE: goodFile }, store);
    try {
      expect(service.gallery.companyIds()).toEqual(["existing"]);
      expect(text).toMatch(/skipped: the store already holds data/);
      expect(service.initialData).toMatchObject({ applied: false });
    } finally {
      await service.close();
    }
  });

  test("SQLite: initial data is written durably once; a restart does not import it again", async () => {
    const path = join(dir, "sqlite", "facegate.db");
    const env = { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: goodFile };
    const first = await start(env, new SqliteGalleryStore({ path }) as unknown as MemoryGalleryStore);
    const rev = first.service.gallery.revision;
    await first.service.deleteUser({ companyId: "acme", userId: "bob" });
    await first.service.close();
    await first.service.store.close();
    const store = new SqliteGalleryStore({ path });
    const second = await start(env, store as unknown as MemoryGalleryStore);
    try {
      expect(second.service.initialData?.applied).toBe(false);
      expect(second.service.gallery.hasUser("acme", "bob")).toBe(false);
      expect(second.service.gallery.revision).toBe(rev + 1);
      // export writes the same format and re-imports to the same content
      const exported = await exportStore(store);
      const file = join(dir, "exported.json");
      writeFileSync(file, JSON.stringify(exported));
      const third = await start({ DATA_SOURCE: "LOCAL_FILE", DATA_FILE: file });
      try {
        expect(third.service.gallery.export()).toEqual(second.service.gallery.export());
      } finally {
        await third.service.close();
      }
    } finally {
      await second.service.close();
      store.close();
    }
  });
});

describe("check-data", () => {
  test("a valid file: statistics block, exit 0", async () => {
    const r = await checkData(["--file", goodFile], {});
    expect(r.code).toBe(0);
    for (const line of ["INFO - Loaded 2 companies", "INFO - Data consistency validation passed", "INFO -   Companies: 2", "INFO -   Total Users: 3", "INFO -   Total Faces: 3", "INFO -   Total Embeddings: 3"]) {
      expect(r.output).toContain(line);
    }
    expect(r.output.at(-1)).toBe("check-data: OK");
  });

  test("warnings are printed; --strict turns them into a failure", async () => {
    const r = await checkData(["--file", inconsistentFile], {});
    expect(r.code).toBe(0);
    expect(r.output.some((l) => l.startsWith("WARNING") && l.includes("has no embedding"))).toBe(true);
    expect((await checkData(["--file", inconsistentFile, "--strict"], {})).code).toBe(1);
  });

  test("errors exit 1: invalid JSON, missing file, API down; bad configuration exits 2", async () => {
    expect((await checkData(["--file", badJsonFile], {})).code).toBe(1);
    expect((await checkData([], { DATA_SOURCE: "LOCAL_FILE", DATA_FILE: join(dir, "missing.json") })).code).toBe(1);
    expect((await checkData(["--url", "http://127.0.0.1:9/x", "--timeout", "1"], {})).code).toBe(1);
    expect((await checkData([], { DATA_SOURCE: "API" })).code).toBe(2);
    expect((await checkData([], {})).code).toBe(0); // NONE: nothing to check
    expect((await checkData(["--nope"], {})).code).toBe(2);
    const help = await checkData(["--help"], {});
    expect(help.code).toBe(0);
    expect(help.output.join("\n")).toContain("usage: bun run check-data");
  });

  test("the script: bun run check-data exits with the code", async () => {
    const ok = Bun.spawnSync(["bun", "run", "check-data", "--", "--file", goodFile], { cwd: join(import.meta.dir, "../../.."), env: { ...process.env, DATA_SOURCE: "" } });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toContain("check-data: OK");
    const bad = Bun.spawnSync(["bun", "run", "check-data", "--", "--file", badJsonFile], { cwd: join(import.meta.dir, "../../..") });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toContain("ERROR - Invalid JSON in data file");
  });
});
