/**
 * Builds the server's static pages (server/pages.ts: kiosk-web, admin-web) into `<page>/dist`
 * (git-ignored): `src/main.ts` bundled for the browser by `bun build`, index.html and style.css
 * copied, and `inputs.json` listing every source file the bundle was made from.
 *
 *   bun run build:pages                 # build every page
 *   bun scripts/build-pages.ts --if-stale   # only pages whose dist is missing or older than a source
 *
 * `bun run start` runs the second form before the server; browser tests call `ensurePagesBuilt()`.
 * Staleness uses the bundler's own list of inputs (its metafile), so a page importing another
 * page's module (the console reuses the kiosk's camera code) is rebuilt when that module changes.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { PAGES, pageDist, type PageSpec } from "../server/http/pages.ts";

const ROOT = resolve(import.meta.dir, "..");
const STATIC_FILES = ["style.css", "index.html"]; // index.html last: it marks a complete build
const INPUTS_FILE = "inputs.json";
const InputsSchema = z.object({ inputs: z.array(z.string()) });

/** Every file the page's build depends on, as absolute paths. */
function recordedInputs(outdir: string): string[] | null {
  try {
    const parsed = InputsSchema.safeParse(JSON.parse(readFileSync(join(outdir, INPUTS_FILE), "utf8")));
    return parsed.success ? parsed.data.inputs.map((p) => resolve(ROOT, p)) : null;
  } catch {
    return null;
  }
}

/** True when dist is complete and no input (sources, imported modules, html, css) is newer. */
export function pageIsCurrent(page: PageSpec, outdir = pageDist(page)): boolean {
  const marker = join(outdir, "index.html");
  if (!existsSync(marker) || !existsSync(join(outdir, "app.js"))) return false;
  const inputs = recordedInputs(outdir);
  if (!inputs) return false;
  const built = statSync(marker).mtimeMs;
  for (const file of [...inputs, ...STATIC_FILES.map((f) => join(page.dir, f))]) {
    if (!existsSync(file) || statSync(file).mtimeMs > built) return false;
  }
  return true;
}

/** Builds into a temporary folder, then swaps it in, so a running server never serves half a build. */
export async function buildPage(page: PageSpec, outdir = pageDist(page)): Promise<string[]> {
  const tmp = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await Bun.build({
      entrypoints: [join(page.dir, "src/main.ts")],
      outdir: tmp,
      target: "browser",
      format: "esm",
      minify: true,
      sourcemap: "linked",
      naming: "app.[ext]",
      metafile: true,
      throw: false,
    });
    if (!result.success) {
      throw new Error(`${page.name} page build failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
    }
    // The metafile's paths are relative to the working directory; store them relative to the repo.
    const inputs = Object.keys(result.metafile?.inputs ?? {}).map((p) => relative(ROOT, resolve(process.cwd(), p)));
    writeFileSync(join(tmp, INPUTS_FILE), `${JSON.stringify({ inputs: inputs.sort() }, null, 1)}\n`);
    for (const file of STATIC_FILES) copyFileSync(join(page.dir, file), join(tmp, file));
    rmSync(outdir, { recursive: true, force: true });
    renameSync(tmp, outdir);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return readdirSync(outdir).sort();
}

let building: Promise<void> | null = null;

/** Builds the pages that are missing or stale; concurrent callers in one process share the work. */
export function ensurePagesBuilt(pages: readonly PageSpec[] = PAGES): Promise<void> {
  building ??= (async () => {
    for (const page of pages) if (!pageIsCurrent(page)) await buildPage(page);
  })().finally(() => {
    building = null;
  });
  return building;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { "if-stale": { type: "boolean", default: false } } });
  for (const page of PAGES) {
    if (values["if-stale"] && pageIsCurrent(page)) continue;
    const started = performance.now();
    const files = await buildPage(page);
    const ms = Math.round(performance.now() - started);
    console.log(`${page.name} page built into ${relative(ROOT, pageDist(page))} in ${ms} ms: ${files.join(", ")}`);
  }
}
