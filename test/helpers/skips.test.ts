/**
 * The end-of-run skip summary (test/helpers/skips.ts, test/preload.ts), through a real child
 * `bun test` with the datasets and nats-server hidden: one summary naming each suite, its reason and
 * how to enable it; no "(unnamed)" hook entries; no temporary folder from a skipped suite.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

test("skipped suites are listed once at the end with how to enable them, and leave nothing behind", () => {
  const prefix = `facegate-skip-fixture-${process.pid}-`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    FACEGATE_DATASETS: join(tmpdir(), "no-datasets-here"),
    NATS_SERVER_BIN: "no-such-nats-server",
    FIXTURE_TMP_PREFIX: prefix,
    NO_COLOR: "1",
  };
  delete env.CI;
  const child = Bun.spawnSync(["bun", "test", "./test/helpers/fixtures/skipping-suites.ts"], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  const out = child.stdout.toString() + child.stderr.toString();
  expect(child.exitCode).toBe(0);
  expect(out).toContain("1 pass");
  expect(out).not.toContain("(unnamed)");
  expect(out).toContain("2 suite(s) skipped:");
  expect(out).toMatch(/the shared face datasets are not at .*no-datasets-here\n {4}- needs the datasets\n {4}to run them: set FACEGATE_DATASETS/);
  expect(out).toMatch(/nats-server \(NATS_SERVER_BIN=no-such-nats-server\) not found.*\n {4}- needs nats-server\n {4}to run them: apt-get install nats-server/);
  expect(readdirSync(tmpdir()).filter((f) => f.startsWith(prefix))).toEqual([]);
});
