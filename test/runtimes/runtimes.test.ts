/**
 * The runtime-free core (`facegate`, lib/core) runs in Bun, Node and Deno: the same smoke script
 * (core-smoke.ts: schemas, errors, the int8 WebAssembly SIMD gallery against brute force, the memory
 * store's replay, MODEL_MISMATCH, initial data) under each of them.
 * - Bun: the TypeScript file directly.
 * - Node 20 (cannot run .ts): bundled by Bun.build({ target: "node" }) with zod inlined, run from a
 *   temp dir where no node_modules is reachable.
 * - Deno: the TypeScript file directly, from the `deno` devDependency (its binary comes in the
 *   platform package @deno/<os>-<arch>[-glibc], an optionalDependency: no postinstall needed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const SMOKE = join(import.meta.dir, "core-smoke.ts");
const TIMEOUT = 30_000;

interface SmokeResult {
  ok: boolean;
  runtime: { name: string; version: string };
  wasmSimd: boolean;
  kernel: string;
  faces: number;
  dim: number;
  queries: number;
  checks: Record<string, number>;
  failures: string[];
}

async function run(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Exit 0 and one JSON line saying every check passed, in the expected runtime, with the SIMD kernel. */
function expectPassed(out: { code: number; stdout: string; stderr: string }, runtime: string): SmokeResult {
  const line = out.stdout.trim().split("\n").at(-1) ?? "";
  let result: SmokeResult;
  try {
    result = JSON.parse(line) as SmokeResult;
  } catch {
    throw new Error(`no JSON result (exit ${out.code})\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
  }
  expect(result.failures).toEqual([]);
  expect(out.code).toBe(0);
  expect(result.ok).toBe(true);
  expect(result.runtime.name).toBe(runtime);
  expect(result.runtime.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(result.wasmSimd).toBe(true);
  expect(result.kernel).toBe("wasm-simd-i8");
  expect(result.faces).toBeGreaterThanOrEqual(1024);
  expect(result.queries).toBe(72);
  for (const group of ["schemas", "errors", "wasm", "store", "gallery", "search", "model", "initial-data"]) {
    expect(result.checks[group]).toBeGreaterThan(0);
  }
  return result;
}

/** The deno binary of the platform package (what node_modules/.bin/deno would start, minus a Node hop). */
function denoBinary(): string | null {
  const target =
    process.platform === "linux" ? `linux-${process.arch}-glibc` : process.platform === "win32" || process.platform === "darwin" ? `${process.platform}-${process.arch}` : null;
  if (!target) return null;
  const denoPkg = Bun.resolveSync("deno/package.json", ROOT);
  const platformPkg = Bun.resolveSync(`@deno/${target}/package.json`, dirname(denoPkg));
  return join(dirname(platformPkg), process.platform === "win32" ? "deno.exe" : "deno");
}

let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "facegate-runtimes-"));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("lib/core in every runtime", () => {
  test(
    "bun",
    async () => {
      expectPassed(await run([process.execPath, SMOKE], ROOT), "bun");
    },
    TIMEOUT,
  );

  describe("node", () => {
    let bundle = "";
    beforeAll(async () => {
      const built = await Bun.build({ entrypoints: [SMOKE], target: "node", format: "esm", outdir: join(tmp, "node"), naming: "[name].mjs" });
      if (!built.success) throw new AggregateError(built.logs, "Bun.build of core-smoke.ts failed");
      bundle = built.outputs[0].path;
    });

    test("the bundle is self-contained (zod inlined)", async () => {
      const code = await readFile(bundle, "utf8");
      expect(code).not.toMatch(/from\s*["']zod["']|require\(["']zod["']\)/);
      expect(code).not.toMatch(/from\s*["']bun["']|["']bun:/);
    });

    test(
      "node runs it",
      async () => {
        const result = expectPassed(await run(["node", bundle], tmp), "node");
        expect(Number(result.runtime.version.split(".")[0])).toBeGreaterThanOrEqual(20);
      },
      TIMEOUT,
    );

    test(
      "node with WebAssembly compiled by the optimising tier only (--no-liftoff)",
      async () => {
        expectPassed(await run(["node", "--no-liftoff", bundle], tmp), "node");
      },
      TIMEOUT,
    );
  });

  describe("deno", () => {
    // --node-modules-dir=manual: resolve zod from the node_modules bun installed (never download);
    // --no-lock: leave no deno.lock in the repository.
    const FLAGS = ["--no-lock", "--node-modules-dir=manual"];
    const denoEnv = () => ({ DENO_DIR: join(tmp, "deno-dir"), DENO_NO_UPDATE_CHECK: "1" });
    const deno = (): string => {
      const bin = denoBinary();
      if (!bin) throw new Error(`no deno binary package for ${process.platform}-${process.arch}`);
      return bin;
    };

    test(
      "deno runs the TypeScript directly, with no permissions",
      async () => {
        // --no-prompt: a permission need fails instead of waiting for an answer
        expectPassed(await run([deno(), "run", "--no-prompt", ...FLAGS, SMOKE], ROOT, denoEnv()), "deno");
      },
      TIMEOUT,
    );

    test(
      "deno type-checks lib/core without Bun's types (no Bun-only globals)",
      async () => {
        const out = await run([deno(), "check", ...FLAGS, join(ROOT, "lib/core/mod.ts"), SMOKE], ROOT, denoEnv());
        if (out.code !== 0) throw new Error(`deno check failed:\n${out.stdout}\n${out.stderr}`);
        expect(out.code).toBe(0);
      },
      TIMEOUT,
    );
  });
});
