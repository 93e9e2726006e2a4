/** The CLI (`bun run facegate`): enroll (in-process and --url), recognize, export/import, calibrate. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { ApiKeys } from "../../../server/http/auth.ts";
import { calibrate, calibrationSvg, folderScores, formatCalibration, readPairsFile } from "../../../server/cli/calibrate.ts";
import { dataset, describeDatasets, FACE_API_DEMO, ROOT } from "../../helpers/datasets.ts";
import { blankJpeg, startTestServer, type TestServer } from "../harness.ts";

const tmp = mkdtempSync(join(tmpdir(), "facegate-cli-test-"));
const people = join(tmp, "people");

beforeAll(async () => {
  for (const [user, files] of [
    ["ann", ["sample1.jpg", "sample3.jpg"]],
    ["ben", ["sample2.jpg"]],
  ] as const) {
    mkdirSync(join(people, user), { recursive: true });
    for (const f of files) copyFileSync(join(FACE_API_DEMO, f), join(people, user, f));
  }
  mkdirSync(join(people, "cat"), { recursive: true });
  writeFileSync(join(people, "cat", "wall.jpg"), await blankJpeg());
  writeFileSync(join(people, "README.txt"), "not a user");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bun", join(ROOT, "server/cli/facegate.ts"), ...args], {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe("usage", () => {
  test("no command or an unknown one: usage and exit 2; --help exits 0", async () => {
    expect((await cli([])).code).toBe(2);
    const bad = await cli(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown command");
    expect(bad.err).toContain("usage:");
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("calibrate");
    expect((await cli(["enroll", "acme"])).code).toBe(2);
  });
  test("<command> --help prints that command's usage, options and an example, exit 0", async () => {
    for (const command of ["enroll", "recognize", "export", "import", "calibrate"]) {
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const r = await cli(args);
        expect({ args, code: r.code }).toEqual({ args, code: 0 });
        expect(r.out.startsWith(`usage: bun run facegate ${command} `)).toBe(true);
        expect(r.out).toContain("example:");
        expect(r.out).not.toContain("commands:"); // not the global usage
      }
    }
    expect((await cli(["calibrate", "--help"])).out).toContain("--limit N");
    expect((await cli(["enroll", "--help"])).out).toContain("--url URL");
  });
});

describe("in-process (embedded service on DATA_DIR)", () => {
  const dataA = join(tmp, "data-a");
  const dataB = join(tmp, "data-b");

  test("enroll a folder: users created, faces added, failures listed, progress shown", async () => {
    const r = await cli(["enroll", "acme", people], { DATA_DIR: dataA });
    expect(r.code).toBe(1); // the wall photo has no face
    expect(r.out).toContain("3 users (2 new), 3 faces added, 0 already there, 1 failed");
    expect(r.out).toMatch(/failed cat\/.*wall\.jpg: NO_FACE/);
    expect(r.out).toContain("ignored (not a <user>/ folder): README.txt");
    expect(r.err).toContain("enroll: 4/4 (100 %)");
  });

  test("enroll again: nothing new, existing faces skipped", async () => {
    const r = await cli(["enroll", "acme", people], { DATA_DIR: dataA });
    expect(r.out).toContain("3 users (0 new), 0 faces added, 3 already there, 1 failed");
  });

  test("recognize prints the wire JSON", async () => {
    const r = await cli(["recognize", "acme", join(FACE_API_DEMO, "sample2.jpg")], { DATA_DIR: dataA });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.out);
    expect(body.user_id).toBe("ben");
    expect(body.confidence).toBeGreaterThan(0.9);
    const all = JSON.parse((await cli(["recognize", "acme", join(FACE_API_DEMO, "sample1.jpg"), "--all"], { DATA_DIR: dataA })).out);
    expect(all.faces.length).toBeGreaterThan(1);
    expect(all.faces.some((f: { user_id: string | null }) => f.user_id === "ann")).toBe(true);
  });

  test("export → import into an empty store → same recognition", async () => {
    const file = join(tmp, "export.json");
    const ex = await cli(["export", file], { DATA_DIR: dataA });
    expect(ex.code).toBe(0);
    const data = JSON.parse(readFileSync(file, "utf8"));
    expect(data.format).toBe("facegate-initial-data");
    expect(data.companies).toEqual([{ company_id: "acme" }]);
    expect(data.users).toHaveLength(2);
    expect(data.embeddings).toHaveLength(3);
    expect(data.embeddings[0].embedding).toHaveLength(512);

    const im = await cli(["import", file], { DATA_DIR: dataB });
    expect(im.code).toBe(0);
    expect(im.out).toContain("imported: 1 companies, 2 users, 3 faces added");
    const again = await cli(["import", file], { DATA_DIR: dataB });
    expect(again.out).toContain("imported: 0 companies, 0 users, 0 faces added");
    const r = JSON.parse((await cli(["recognize", "acme", join(FACE_API_DEMO, "sample2.jpg")], { DATA_DIR: dataB })).out);
    expect(r.user_id).toBe("ben");
  });

  test("export --format old writes the old workers' initial_db.json; it imports back to the same recognition", async () => {
    const file = join(tmp, "initial_db.json");
    const ex = await cli(["export", file, "--format", "old"], { DATA_DIR: dataA });
    expect(ex.code).toBe(0);
    const data = JSON.parse(readFileSync(file, "utf8"));
    expect(Object.keys(data.companies)).toEqual(["acme"]);
    expect(Object.keys(data.users.acme).sort()).toEqual(["ann", "ben"]);
    expect(data.users.acme.ann.user_id).toBe("ann");
    expect(data.faces.acme).toHaveLength(3);
    expect(Object.values(data.embeddings).every((e) => (e as number[]).length === 512)).toBe(true);
    const dataC = join(tmp, "data-c");
    const im = await cli(["import", file], { DATA_DIR: dataC });
    expect(im.code).toBe(0);
    expect(im.out).toContain("imported: 1 companies, 2 users, 3 faces added");
    const r = JSON.parse((await cli(["recognize", "acme", join(FACE_API_DEMO, "sample2.jpg")], { DATA_DIR: dataC })).out);
    expect(r.user_id).toBe("ben");
    expect((await cli(["export", file, "--format", "xml"], { DATA_DIR: dataA })).code).toBe(2);
    // the old system's own files name no model: import refuses them (nothing written) until it is declared
    const { model, ...undeclared } = data;
    writeFileSync(file, JSON.stringify(undeclared));
    const dataD = join(tmp, "data-d");
    const refused = await cli(["import", file], { DATA_DIR: dataD });
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("error: MODEL_MISMATCH: the file names no embedding model");
    const declared = await cli(["import", file], { DATA_DIR: dataD, INITIAL_DATA_MODEL: model });
    expect(declared.out).toContain("imported: 1 companies, 2 users, 3 faces added");
  });

  test("import of a broken file fails with its errors", async () => {
    const bad = join(tmp, "bad.json");
    writeFileSync(bad, "{ not json");
    const r = await cli(["import", bad], { DATA_DIR: dataB });
    expect(r.code).toBe(1);
  });
});

describe("--url: against a running server", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ keys: new ApiKeys({ "cli-admin-key": ["*"], "cli-acme-key": ["acme"] }, false) });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  test("enroll and recognize over HTTP with a company key", async () => {
    const e = await cli(["enroll", "acme", people, "--url", srv.url, "--key", "cli-acme-key"]);
    expect(e.out).toContain("3 users (2 new), 3 faces added");
    const stats = await srv.call("GET", "/v1/stats?detail=companies", { key: "cli-admin-key" });
    expect(stats.body.companies.acme).toEqual({ users: 2, faces: 3 });
    const r = await cli(["recognize", "acme", join(FACE_API_DEMO, "sample1.jpg"), "--url", srv.url], { FACEGATE_API_KEY: "cli-acme-key" });
    expect(JSON.parse(r.out).user_id).toBe("ann");
  });

  test("a key for another company: FORBIDDEN, exit 1", async () => {
    const r = await cli(["enroll", "beta", people, "--url", srv.url, "--key", "cli-acme-key"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("FORBIDDEN");
  });
});

describe("calibration math", () => {
  test("separable scores: EER 0, suggested threshold above every impostor", () => {
    const c = calibrate([0.6, 0.7, 0.8, 0.9], [-0.1, 0, 0.1, 0.2], 0.001);
    expect(c.eer.rate).toBe(0);
    expect(c.eer.threshold).toBeGreaterThan(0.2);
    expect(c.eer.threshold).toBeLessThanOrEqual(0.6);
    expect(c.suggested.far).toBe(0);
    expect(c.suggested.threshold).toBeGreaterThan(0.2);
    expect(c.suggested.frr).toBe(0);
  });
  test("overlapping scores: FAR falls and FRR rises with the threshold; EER where they cross", () => {
    const genuine = Array.from({ length: 100 }, (_, i) => 0.2 + i * 0.006); // 0.2 .. 0.794
    const impostor = Array.from({ length: 100 }, (_, i) => -0.2 + i * 0.006); // -0.2 .. 0.394
    const c = calibrate(genuine, impostor, 0.01);
    for (let i = 1; i < c.curve.length; i++) {
      expect(c.curve[i].far).toBeLessThanOrEqual(c.curve[i - 1].far);
      expect(c.curve[i].frr).toBeGreaterThanOrEqual(c.curve[i - 1].frr);
    }
    expect(c.eer.threshold).toBeCloseTo(0.297, 1);
    expect(c.eer.rate).toBeGreaterThan(0.1);
    expect(c.eer.rate).toBeLessThan(0.25);
    expect(c.suggested.far).toBeLessThanOrEqual(0.01);
    expect(formatCalibration(c)).toContain("suggested FACE_RECOGNITION_THRESHOLD=");
    expect(calibrationSvg(c)).toContain("<polyline");
    expect(() => calibrate([], [0.1])).toThrow(/genuine and impostor/);
  });
  test("folder scores: genuine within a person, impostor across", () => {
    const e = (x: number, y: number) => Float32Array.from([x, y]);
    const { genuine, impostor } = folderScores(new Map([["a", [e(1, 0), e(1, 0)]], ["b", [e(0, 1)]]]));
    expect(genuine).toEqual([1]);
    expect(impostor).toEqual([0, 0]);
  });
});

describeDatasets("calibrate on real photos", () => {
  test("labelled folder → table, EER, suggested threshold, PNG plot, JSON", async () => {
    const plot = join(tmp, "bbt.png");
    const json = join(tmp, "bbt.json");
    const r = await cli(["calibrate", dataset("labelled/bbt"), "--plot", plot, "--json", json]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("EER:");
    expect(r.out).toMatch(/suggested FACE_RECOGNITION_THRESHOLD=0\.\d+/);
    // docs/server.md shows this run's output: it must be what the command prints today
    const docs = readFileSync(join(ROOT, "docs/server.md"), "utf8");
    const sample = docs.split("$ bun run facegate calibrate ../shared/datasets/labelled/bbt --plot bbt.png\n")[1]?.split("```")[0] ?? "";
    const printed = r.out.split("\n").filter((l) => !l.startsWith("embed:") && !l.startsWith("plot:") && !l.startsWith("json:"));
    // similarities to 2 decimals: the last digits may differ with another CPU's floating point
    const norm = (lines: string[]) => lines.filter((l) => l !== "" && !l.startsWith("plot:")).map((l) => l.replace(/\d+\.\d{4}/g, (m) => Number(m).toFixed(2)));
    expect(norm(sample.split("\n"))).toEqual(norm(printed));
    const meta = await sharp(plot).metadata();
    expect(meta.format).toBe("png");
    expect(meta.width).toBe(900);
    const result = JSON.parse(readFileSync(json, "utf8"));
    expect(result.genuinePairs).toBeGreaterThan(50);
    expect(result.impostor.max).toBeLessThan(result.genuine.median);
  }, 60_000);
  test("pairs file (LFW format) with --images and --limit", async () => {
    const file = dataset("lfw-dev/pairsDevTest.txt");
    const pairs = readPairsFile(file);
    expect(pairs).toHaveLength(1000);
    expect(pairs.filter((p) => p.same)).toHaveLength(500);
    // a small mixed subset: 20 same-person and 20 different-person pairs
    const lines = readFileSync(file, "utf8").split("\n");
    const subset = join(tmp, "pairs.txt");
    writeFileSync(subset, ["40", ...lines.slice(1, 21), ...lines.slice(501, 521)].join("\n"));
    const plot = join(tmp, "pairs.svg");
    const r = await cli(["calibrate", subset, "--images", dataset("lfw-dev/images"), "--plot", plot]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/pairs: \d+ genuine .* \d+ impostor/);
    expect(existsSync(plot)).toBe(true);
    expect(readFileSync(plot, "utf8")).toContain("<svg");
  }, 60_000);
});
