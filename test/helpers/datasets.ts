/**
 * Where test images come from. The shared datasets are found through FACEGATE_DATASETS
 * (default ../shared/datasets). Where they are absent, dataset tests skip with a one-line reason;
 * in CI (CI=true) their absence is a failure, so nothing skips there.
 */
import { describe, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { recordSkip } from "./skips.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const DATASETS = resolve(ROOT, process.env.FACEGATE_DATASETS ?? "../shared/datasets");
export const HAVE_DATASETS = existsSync(join(DATASETS, "README.md"));

if (!HAVE_DATASETS && process.env.CI === "true") {
  throw new Error(`CI=true but the shared datasets are not at ${DATASETS} (set FACEGATE_DATASETS)`);
}

/**
 * `describe` for tests that need the shared datasets. Without them the suite is recorded for the
 * end-of-run summary and not registered (so its hooks never create temporary folders).
 */
export function describeDatasets(name: string, fn: () => void): void {
  if (HAVE_DATASETS) return describe(name, fn);
  recordSkip({
    suite: name,
    reason: `the shared face datasets are not at ${DATASETS}`,
    enable: "set FACEGATE_DATASETS to the datasets folder (the one with README.md, lfw-dev/, scenes/, video/)",
  });
}

/**
 * `test` for one test that needs the shared datasets inside a suite that does not (e.g. a gateway
 * suite with one large-photo case). Without them the test is recorded as skipped, not registered.
 */
export function testDatasets(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  if (HAVE_DATASETS) {
    test(name, fn, timeout);
    return;
  }
  recordSkip({
    suite: name,
    reason: `the shared face datasets are not at ${DATASETS}`,
    enable: "set FACEGATE_DATASETS to the datasets folder (the one with README.md, lfw-dev/, scenes/, video/)",
  });
}

export function dataset(...parts: string[]): string {
  return join(DATASETS, ...parts);
}

export function readDataset(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(dataset(...parts)));
}

export function listDataset(...parts: string[]): string[] {
  return readdirSync(dataset(...parts)).sort();
}

/** Group photos shipped by the npm package @vladmandic/face-api (always available: a dev dependency). */
export const FACE_API_DEMO = join(ROOT, "node_modules/@vladmandic/face-api/demo");
export function faceApiSample(n: 1 | 2 | 3 | 4 | 5 | 6): Uint8Array {
  return new Uint8Array(readFileSync(join(FACE_API_DEMO, `sample${n}.jpg`)));
}
