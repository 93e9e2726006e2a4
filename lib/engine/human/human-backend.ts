/**
 * TensorFlow.js backend ladder for the Human engine: tfjs-node-gpu (CUDA) → tfjs-node → wasm.
 * Each step loads the matching prebuilt Human bundle, which `require`s its tfjs packages: the node
 * ones are optional (their install downloads libtensorflow), the wasm one must always work.
 * The bundles are loaded by file path because Human's package `exports` do not expose them.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as tfc from "@tensorflow/tfjs-core";
import type { Config, Human, Result } from "@vladmandic/human";
import { FaceError } from "../../core/mod.ts";

export const HUMAN_BACKENDS = ["tfjs-node-gpu", "tfjs-node", "wasm"] as const;
export type HumanBackend = (typeof HUMAN_BACKENDS)[number];
export type HumanBackendChoice = "auto" | HumanBackend;

/** The subset of the Human instance the engine uses, with tf typed. */
export interface HumanInstance {
  readonly version: string;
  readonly config: Config;
  readonly tf: typeof tfc;
  init(): Promise<void>;
  load(config?: Partial<Config>): Promise<void>;
  detect(input: tfc.Tensor, config?: Partial<Config>): Promise<Result>;
  models: Human["models"];
}

interface HumanModule {
  Human: new (config?: Partial<Config>) => HumanInstance;
}

interface Step {
  backend: HumanBackend;
  /** Package whose presence the step needs. */
  tfPackage: string;
  /** Human bundle in @vladmandic/human/dist. */
  bundle: string;
  /** Human's name of the tf backend. */
  tfBackend: "tensorflow" | "wasm";
}

const STEPS: readonly Step[] = [
  { backend: "tfjs-node-gpu", tfPackage: "@tensorflow/tfjs-node-gpu", bundle: "human.node-gpu.js", tfBackend: "tensorflow" },
  { backend: "tfjs-node", tfPackage: "@tensorflow/tfjs-node", bundle: "human.node.js", tfBackend: "tensorflow" },
  { backend: "wasm", tfPackage: "@tensorflow/tfjs-backend-wasm", bundle: "human.node-wasm.js", tfBackend: "wasm" },
];

const here = createRequire(import.meta.url);

/** Folder of Human's prebuilt bundles (its `node` export is dist/human.node.js). */
export function humanDistDir(): string {
  try {
    return dirname(here.resolve("@vladmandic/human"));
  } catch (cause) {
    throw new FaceError("UNAVAILABLE", "@vladmandic/human is not installed (run `bun install`)", { cause });
  }
}

/** Folder holding tfjs-backend-wasm's .wasm binaries, as Human's bundle resolves the package. */
export function wasmBinariesDir(distDir = humanDistDir()): string {
  const req = createRequire(join(distDir, "human.node-wasm.js"));
  let dir: string;
  try {
    dir = dirname(req.resolve("@tensorflow/tfjs-backend-wasm"));
  } catch (cause) {
    throw new FaceError("UNAVAILABLE", "@tensorflow/tfjs-backend-wasm is not installed (run `bun install`)", { cause });
  }
  for (const f of ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"]) {
    if (!existsSync(join(dir, f))) {
      throw new FaceError("UNAVAILABLE", `tfjs wasm binary missing: ${join(dir, f)} (reinstall @tensorflow/tfjs-backend-wasm)`);
    }
  }
  return `${dir}/`;
}

export interface TfVersions {
  core: string;
  converter?: string;
  /** Version of the backend package (wasm) where it reports one. */
  backend?: string;
}

export interface VersionCheck {
  /** Mismatches that break kernels or model loading: the engine refuses to start. */
  errors: string[];
  /** Differences that usually work (same major as Human was built with). */
  warnings: string[];
}

const major = (v: string) => v.split(".")[0];

/**
 * tfjs packages are released in lockstep and the wasm backend registers kernels against the exact
 * core it was built with, so core, converter and backend must be identical; Human's bundle records
 * the versions it was built against (`tf.version`), and a different major there is refused too.
 */
export function checkTfjsVersions(built: Record<string, string>, actual: TfVersions, backend: HumanBackend): VersionCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (actual.converter !== undefined && actual.converter !== actual.core) {
    errors.push(`@tensorflow/tfjs-converter ${actual.converter} differs from @tensorflow/tfjs-core ${actual.core}`);
  }
  if (backend === "wasm" && actual.backend !== undefined && actual.backend !== actual.core) {
    errors.push(`@tensorflow/tfjs-backend-wasm ${actual.backend} differs from @tensorflow/tfjs-core ${actual.core}`);
  }
  const expected = built["tfjs-core"] ?? built.tfjs;
  if (expected !== undefined && expected !== actual.core) {
    const text = `Human was built with tfjs ${expected}, @tensorflow/tfjs-core is ${actual.core}`;
    if (major(expected) !== major(actual.core)) errors.push(text);
    else warnings.push(text);
  }
  return { errors, warnings };
}

export interface LoadedBackend {
  backend: HumanBackend;
  human: HumanInstance;
  versions: TfVersions;
  warnings: string[];
  /** Why each earlier step of the ladder was skipped. */
  skipped: string[];
}

const PROCESS_EVENTS = ["uncaughtException", "unhandledRejection"] as const;

/**
 * The wasm backend's emscripten glue adds process-wide `uncaughtException`/`unhandledRejection`
 * listeners that rethrow, which would turn every unhandled rejection of the host app into a crash
 * and override its own handlers: they are removed again once the backend is up.
 */
async function withoutNewProcessHandlers<T>(fn: () => Promise<T>): Promise<T> {
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set(process.listeners(e))]));
  try {
    return await fn();
  } finally {
    for (const e of PROCESS_EVENTS) {
      for (const l of process.listeners(e)) {
        if (!before.get(e)?.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
      }
    }
  }
}

function stepsFor(choice: HumanBackendChoice): readonly Step[] {
  return choice === "auto" ? STEPS : STEPS.filter((s) => s.backend === choice);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message.split("\n")[0] : String(e);
}

/**
 * Creates a Human instance on the first backend of the ladder that loads and initialises.
 * `config` is Human's configuration without backend settings (filled in here).
 */
export async function loadHumanBackend(choice: HumanBackendChoice, config: Partial<Config>): Promise<LoadedBackend> {
  const dist = humanDistDir();
  const skipped: string[] = [];
  for (const step of stepsFor(choice)) {
    const req = createRequire(join(dist, step.bundle));
    try {
      req.resolve(step.tfPackage);
    } catch {
      skipped.push(`${step.backend}: ${step.tfPackage} is not installed`);
      continue;
    }
    try {
      const wasmPath = step.tfBackend === "wasm" ? wasmBinariesDir(dist) : "";
      const mod = req(join(dist, step.bundle)) as HumanModule;
      const human = new mod.Human({ ...config, backend: step.tfBackend, wasmPath, wasmPlatformFetch: false });
      await withoutNewProcessHandlers(() => human.init());
      const tf = human.tf;
      if (tf.getBackend() !== step.tfBackend) throw new Error(`tf backend is ${tf.getBackend()} after init`);
      const versions: TfVersions = {
        core: tf.version_core,
        converter: (tf as unknown as { version_converter?: string }).version_converter,
        backend: step.tfBackend === "wasm" ? (tf as unknown as { version_wasm?: string }).version_wasm : undefined,
      };
      const built = (tf as unknown as { version?: Record<string, string> }).version ?? {};
      const check = checkTfjsVersions(built, versions, step.backend);
      if (check.errors.length > 0) {
        throw new FaceError("UNAVAILABLE", `incompatible tfjs packages for Human: ${check.errors.join("; ")}`, {
          details: { versions, built },
        });
      }
      return { backend: step.backend, human, versions, warnings: check.warnings, skipped };
    } catch (e) {
      // A version mismatch is a broken install, not a missing optional backend: say so at once.
      if (e instanceof FaceError && choice !== "auto") throw e;
      if (e instanceof FaceError && step.backend === "wasm") throw e;
      skipped.push(`${step.backend}: ${message(e)}`);
    }
  }
  throw new FaceError("UNAVAILABLE", `no TensorFlow.js backend could be loaded for Human (${skipped.join("; ")})`, {
    details: { skipped },
  });
}
