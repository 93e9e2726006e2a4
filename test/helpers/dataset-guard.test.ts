/**
 * A fresh clone (no ../shared/datasets) passes `bun run test`: every dataset read is behind the skip
 * guard (static, every test file), and the files that mix guarded dataset suites with tests that run
 * anyway are run for real against an empty FACEGATE_DATASETS (the whole suite twice would be too slow).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatasetGuardAnalysis, testFiles } from "./dataset-guard.ts";
import { ROOT } from "./datasets.ts";

const analysis = new DatasetGuardAnalysis(ROOT);
const reports = testFiles(ROOT).map((file) => analysis.report(file));

describe("dataset reads behind the skip guard", () => {
  test("the analysis sees a read outside the guard (the gateway test before it was fixed)", () => {
    const before = `
      import { describe, test } from "bun:test";
      import { readDataset, describeDatasets, dataset } from "../helpers/datasets.ts";
      const photo = (name: string) => dataset("scenes", name);
      describe("gateway", () => {
        test("large photo", () => { readDataset("scenes/large", "shea.jpg"); });
        test("fine", () => {});
      });
      describeDatasets("guarded", () => { test("ok", () => { photo("a.jpg"); }); });
    `;
    const report = analysis.report(join(ROOT, "test/server/example.test.ts"), before);
    expect(report.uses.filter((u) => !u.guarded).map((u) => u.name)).toEqual(["readDataset"]);
    expect(report.uses.filter((u) => u.guarded).map((u) => u.name)).toEqual(["photo"]);
    expect(report.unguardedTests).toBe(2);
  });

  test("every test file reads the datasets only inside describeDatasets / testDatasets / a HAVE_DATASETS branch", () => {
    // Sanity: the pass follows the helpers (kiosk, server and admin harnesses) and finds the reads.
    expect(reports.filter((r) => r.uses.length > 0).length).toBeGreaterThan(10);
    const unguarded = reports.flatMap((r) => r.uses.filter((u) => !u.guarded).map((u) => `${u.file}:${u.line} ${u.name}`));
    expect(unguarded).toEqual([]);
  });
});

describe("a fresh clone without the datasets", () => {
  const empty = mkdtempSync(join(tmpdir(), "facegate-no-datasets-"));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  test("the files mixing dataset suites with other tests pass against an empty FACEGATE_DATASETS", async () => {
    const mixed = reports.filter((r) => r.uses.length > 0 && r.unguardedTests > 0).map((r) => r.file);
    expect(mixed).toContain("test/server/compose/gateway.test.ts");
    // CI=true turns missing datasets into an error by design; a fresh clone is not CI.
    const { CI: _ci, ...env } = process.env;
    const child = Bun.spawn(["bun", "test", "--timeout", "60000", ...mixed], {
      cwd: ROOT,
      env: { ...env, FACEGATE_DATASETS: empty },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const output = `${out}\n${err}`;
    if (code !== 0) console.error(output.slice(-6000));
    expect(code).toBe(0);
    expect(output).toMatch(/suite\(s\) skipped/);
    expect(output).toContain(`the shared face datasets are not at ${empty}`);
  }, 240_000);
});
