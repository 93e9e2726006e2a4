#!/usr/bin/env bun
/**
 * Builds what the npm package ships: JavaScript and .d.ts for every export (tsc with
 * tsconfig.build.json; `.ts` import specifiers rewritten to `.js`), the model manifest beside its
 * module, and the `facegate` bin. One file in, one file out: no bundling, so classes such as
 * FaceError stay one identity across subpaths and worker scripts keep their relative place.
 *
 *   bun run build        -> dist/
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});
if (tsc.status !== 0) {
  console.error("build failed: tsc reported errors above");
  process.exit(1);
}
copyFileSync(join(root, "models/manifest.json"), join(dist, "models/manifest.json"));
chmodSync(join(dist, "server/cli/facegate.js"), 0o755);
console.log(`built ${dist}`);
