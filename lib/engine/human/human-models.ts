/**
 * Human's models from the local, sha256-verified files under models/human (no network, no fetch of
 * file:// URLs, which Node's fetch lacks): a tfjs IO router for the `facegate-human://` scheme that
 * Human's loader resolves every model path against.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type * as tfc from "@tensorflow/tfjs-core";
import { loadManifest, ModelFileError, modelPath, sha256 } from "../../../models/manifest.ts";

export const MODEL_SCHEME = "facegate-human://";

/** Human model (file stem) → the manifest names of its topology and weights. */
export const HUMAN_MODELS = ["blazeface", "facemesh", "faceres", "antispoof", "liveness"] as const;
export type HumanModelName = (typeof HUMAN_MODELS)[number];

/** Like `modelPath`, for a models folder given explicitly instead of FACEGATE_MODELS_DIR. */
function modelPathIn(dir: string, name: string): string {
  const entry = loadManifest().find((m) => m.name === name);
  if (!entry) throw new ModelFileError(name, "unknown model name");
  const path = join(resolve(dir), entry.file);
  if (!existsSync(path)) throw new ModelFileError(name, `model file missing: ${path}`);
  const digest = sha256(readFileSync(path));
  if (digest !== entry.sha256) {
    throw new ModelFileError(name, `model file corrupt: ${path} has sha256 ${digest}, expected ${entry.sha256}`);
  }
  return path;
}

/**
 * Verifies (sha256) and returns the files of a model; throws ModelFileError naming the fix.
 * `dir` overrides the models folder (default: `modelsDir()`, i.e. FACEGATE_MODELS_DIR or models/).
 */
export function humanModelFiles(name: string, dir?: string): { json: string; bin: string } {
  const find = (n: string) => (dir === undefined ? modelPath(n) : modelPathIn(dir, n));
  return { json: find(`human_${name}_json`), bin: find(`human_${name}_bin`) };
}

type WeightsManifest = tfc.io.WeightsManifestConfig;

function loadArtifacts(tf: typeof tfc, name: string, dir?: string): Promise<tfc.io.ModelArtifacts> {
  const files = humanModelFiles(name, dir);
  const json = JSON.parse(readFileSync(files.json, "utf8")) as tfc.io.ModelJSON;
  return tf.io.getModelArtifactsForJSON(json, async (manifest: WeightsManifest) => {
    const paths = manifest.flatMap((group) => group.paths);
    // Each Human model ships exactly one shard, named like the model: the verified .bin file.
    if (paths.length !== 1 || paths[0] !== `${name}.bin`) {
      throw new Error(`model ${name}: expected one weights file ${name}.bin, manifest lists ${paths.join(", ")}`);
    }
    const bytes = readFileSync(files.bin);
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    return [manifest.flatMap((group) => group.weights), data];
  });
}

const registered = new WeakMap<object, { dir?: string }>();

/**
 * Registers the router on a tf instance once; Human's `modelBasePath` must be MODEL_SCHEME.
 * Models load while Human loads them (engine creation), from the folder given by the latest call.
 */
export function registerHumanModelRouter(tf: typeof tfc, dir?: string): void {
  const state = registered.get(tf.io);
  if (state) {
    state.dir = dir;
    return;
  }
  const fresh: { dir?: string } = { dir };
  registered.set(tf.io, fresh);
  // tfjs routers return null for URLs they do not handle (its own http router does); the type omits it.
  const router = (url: string | string[]): tfc.io.IOHandler | null => {
    if (typeof url !== "string" || !url.startsWith(MODEL_SCHEME)) return null;
    const name = url.slice(MODEL_SCHEME.length).replace(/^\/+/, "").replace(/\.json$/, "");
    return { load: () => loadArtifacts(tf, name, fresh.dir) };
  };
  tf.io.registerLoadRouter(router as Parameters<typeof tf.io.registerLoadRouter>[0]);
}
