/**
 * ONNX Runtime sessions: thread settings and execution-provider choice (CUDA when asked for or
 * "auto" and its provider library is installed; CPU otherwise, and always as the fallback).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { FaceError } from "../../core/mod.ts";
import { rewritePrelu } from "./prelu-rewrite.ts";

export { ort };

export type ProviderChoice = "auto" | "cpu" | "cuda";
export type Provider = "cpu" | "cuda";

export interface SessionOptions {
  threads: number;
  provider: ProviderChoice;
  /**
   * Turns off ORT's NCHWc layout transformer. The engine no longer sets it (onnxruntime 1.30):
   * fr_feature is ~20 % faster with it (an earlier runtime wrapped each PReLU in layout reorders and
   * took 3x longer); kept for `bench:ort-options`. See docs/engine.md.
   */
  noNchwc?: boolean;
  /** Loads the model as it is, PRelu nodes included (for `bench:ort-options`; see prelu-rewrite.ts). */
  keepPrelu?: boolean;
}

/** Where onnxruntime-node keeps its native libraries (the CUDA provider is only there when downloaded). */
function nativeDir(): string | undefined {
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
    const bin = join(pkg, "bin");
    for (const napi of readdirSync(bin)) {
      const dir = join(bin, napi, process.platform, process.arch);
      if (existsSync(dir)) return dir;
    }
  } catch {
    // not resolvable: treat as no CUDA
  }
  return undefined;
}

export function cudaLibraryPresent(): boolean {
  const dir = nativeDir();
  return dir !== undefined && existsSync(join(dir, "libonnxruntime_providers_cuda.so"));
}

/** Whether the first session should try CUDA. */
export function wantsCuda(choice: ProviderChoice): boolean {
  return choice === "cuda" || (choice === "auto" && cudaLibraryPresent());
}

export interface LoadedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Why CUDA was not used although it was asked for, if so. */
  fallbackReason?: string;
}

/** Creates a session; `model` may be a file path or the model bytes. */
export async function createSession(model: string | Uint8Array, opts: SessionOptions): Promise<LoadedSession> {
  const path = opts.keepPrelu ? model : withoutPrelu(model);
  const what = typeof model === "string" ? model : "model bytes";
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads,
    // Inter-op parallelism only matters for branched graphs; these models are sequential.
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    ...(opts.noNchwc ? { extra: { optimization: { disable_specified_optimizers: "NchwcTransformer" } } } : {}),
  };
  let fallbackReason: string | undefined;
  if (wantsCuda(opts.provider)) {
    if (!cudaLibraryPresent()) {
      fallbackReason = "the onnxruntime-node CUDA provider library is not installed";
    } else {
      try {
        const session = await load(path, { ...base, executionProviders: ["cuda", "cpu"] }, what);
        return { session, provider: "cuda" };
      } catch (cause) {
        fallbackReason = `CUDA session failed: ${cause instanceof Error ? cause.message : String(cause)}`;
      }
    }
  }
  const session = await load(path, { ...base, executionProviders: ["cpu"] }, what);
  return { session, provider: "cpu", fallbackReason };
}

/**
 * The model with its PRelu nodes as Mul + Max (same outputs, ~2x faster recognizer: prelu-rewrite.ts);
 * a path when there is nothing to rewrite, so onnxruntime still reads the file (and its external data).
 */
function withoutPrelu(model: string | Uint8Array): string | Uint8Array {
  const bytes = typeof model === "string" ? readModel(model) : model;
  if (!bytes) return model;
  const { bytes: rewritten, rewritten: n } = rewritePrelu(bytes);
  return n > 0 ? rewritten : model;
}

/** The file's bytes, or undefined when it cannot be read (onnxruntime then reports the error). */
function readModel(path: string): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    return undefined;
  }
}

async function load(path: string | Uint8Array, options: ort.InferenceSession.SessionOptions, what: string): Promise<ort.InferenceSession> {
  try {
    return typeof path === "string"
      ? await ort.InferenceSession.create(path, options)
      : await ort.InferenceSession.create(path, options);
  } catch (cause) {
    throw new FaceError("INVALID_ARGUMENT", `could not load ONNX model ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** The declared shape of a session's input or output, `undefined` for a dynamic dimension. */
export function declaredShape(session: ort.InferenceSession, name: string, kind: "input" | "output"): (number | undefined)[] | undefined {
  const list = kind === "input" ? session.inputMetadata : session.outputMetadata;
  const meta = list.find((m) => m.name === name);
  if (!meta || !meta.isTensor) return undefined;
  return meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : undefined));
}
