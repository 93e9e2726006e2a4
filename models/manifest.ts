/**
 * The model manifest: its schema, where model files live, and verification.
 * Used by the fetch script and by the engines at load time.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const ModelEntrySchema = z.object({
  name: z.string().min(1),
  package: z.string().min(1),
  version: z.string().min(1),
  path: z.string().min(1),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  kind: z.string(),
  input: z.record(z.string(), z.unknown()).optional(),
  output: z.record(z.string(), z.unknown()).optional(),
  dims: z.number().int().positive().optional(),
  license: z.string(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

export const ManifestSchema = z.object({ models: z.array(ModelEntrySchema).min(1) });

const here = dirname(fileURLToPath(import.meta.url));

/** True when running from the built package inside a consumer's node_modules (not a source checkout). */
export const PACKAGED = /[\\/]node_modules[\\/]/.test(here);

/**
 * Directory holding fetched model files: `FACEGATE_MODELS_DIR`; else, in a source checkout, models/
 * beside this file; else (the package installed in someone's project) `facegate-models/` in the
 * current directory, i.e. inside the consumer's project, never inside node_modules where a reinstall
 * would delete them.
 */
export function modelsDir(): string {
  const configured = process.env.FACEGATE_MODELS_DIR;
  if (configured) return resolve(configured);
  return PACKAGED ? resolve(process.cwd(), "facegate-models") : here;
}

/** The command that fetches the models, as the user should type it here. */
export function fetchCommand(): string {
  return PACKAGED ? "npx facegate models" : "bun run models";
}

export function loadManifest(): ModelEntry[] {
  const raw = JSON.parse(readFileSync(join(here, "manifest.json"), "utf8"));
  return ManifestSchema.parse(raw).models;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A model file is missing or does not match its sha256. */
export class ModelFileError extends Error {
  readonly code = "MODEL_FILE" as const;
  constructor(
    readonly model: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${message} (model "${model}"). Fix: run \`${fetchCommand()}\` (it fetches into ${modelsDir()}; ` +
        "FACEGATE_MODELS_DIR chooses another folder).",
      options,
    );
    this.name = "ModelFileError";
  }
}

const verified = new Set<string>();

/** Absolute path of a manifest model, verified (once per process) by sha256. */
export function modelPath(name: string): string {
  const entry = loadManifest().find((m) => m.name === name);
  if (!entry) throw new ModelFileError(name, "unknown model name");
  const path = join(modelsDir(), entry.file);
  if (verified.has(path)) return path;
  if (!existsSync(path)) throw new ModelFileError(name, `model file missing: ${path}`);
  const digest = sha256(readFileSync(path));
  if (digest !== entry.sha256) {
    throw new ModelFileError(name, `model file corrupt: ${path} has sha256 ${digest}, expected ${entry.sha256}`);
  }
  verified.add(path);
  return path;
}
