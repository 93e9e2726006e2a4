/**
 * Builds the kiosk page into kiosk-web/dist (git-ignored): src/main.ts bundled for the browser
 * by `bun build`, plus index.html and style.css copied as they are.
 *
 *   bun run build:kiosk           # or: bun kiosk-web/build.ts
 *
 * The server calls `ensureKioskBuilt()` at start: it builds when dist is missing or older than
 * any source file, so a checkout serves a current page without a separate step.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const KIOSK_WEB_DIR = resolve(import.meta.dir);
export const KIOSK_DIST_DIR = join(KIOSK_WEB_DIR, "dist");
const STATIC_FILES = ["index.html", "style.css"];

function newestSource(): number {
  let newest = 0;
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) visit(path);
      else newest = Math.max(newest, stat.mtimeMs);
    }
  };
  visit(join(KIOSK_WEB_DIR, "src"));
  for (const file of STATIC_FILES) newest = Math.max(newest, statSync(join(KIOSK_WEB_DIR, file)).mtimeMs);
  // The page imports the protocol's types; a change there may change the bundle.
  newest = Math.max(newest, statSync(resolve(KIOSK_WEB_DIR, "../server/kiosk/protocol.ts")).mtimeMs);
  return newest;
}

/** True when dist is complete and newer than every source. */
export function kioskBuildIsCurrent(outdir = KIOSK_DIST_DIR): boolean {
  const marker = join(outdir, "index.html");
  if (!existsSync(marker) || !existsSync(join(outdir, "app.js"))) return false;
  return statSync(marker).mtimeMs >= newestSource();
}

/** Builds into a temporary folder, then swaps it in, so a running server never serves half a build. */
export async function buildKiosk(outdir = KIOSK_DIST_DIR): Promise<string[]> {
  const tmp = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await Bun.build({
      entrypoints: [join(KIOSK_WEB_DIR, "src/main.ts")],
      outdir: tmp,
      target: "browser",
      format: "esm",
      minify: true,
      sourcemap: "linked",
      naming: "app.[ext]",
    });
    if (!result.success) {
      throw new Error(`kiosk page build failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
    }
    // index.html last: it is the marker of a complete build.
    for (const file of STATIC_FILES.slice().reverse()) copyFileSync(join(KIOSK_WEB_DIR, file), join(tmp, file));
    rmSync(outdir, { recursive: true, force: true });
    renameSync(tmp, outdir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return readdirSync(outdir).sort();
}

let building: Promise<void> | null = null;

/** Builds once per process when needed; concurrent callers share the build. */
export function ensureKioskBuilt(outdir = KIOSK_DIST_DIR): Promise<void> {
  if (kioskBuildIsCurrent(outdir)) return Promise.resolve();
  building ??= buildKiosk(outdir)
    .then(() => undefined)
    .finally(() => {
      building = null;
    });
  return building;
}

if (import.meta.main) {
  const files = await buildKiosk();
  console.log(`kiosk page built into ${KIOSK_DIST_DIR}: ${files.join(", ")}`);
}
