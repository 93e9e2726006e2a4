/**
 * The npm package as another app meets it: `npm pack` the project, install the tarball into a fresh
 * temporary project, then (1) the tarball holds only dist/ and the README (no .git, data, tests,
 * models), (2) every subpath imports under Bun and under Node, (3) a consumer's strict tsconfig
 * (`strict` + `noUncheckedIndexedAccess`, libraries checked too) typechecks code using every subpath,
 * (4) `facegate models` fetches the weights into the consumer's folder, (5) the README's library
 * example runs twice in a row.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describeDatasets, readDataset } from "../helpers/datasets.ts";

const ROOT = resolve(import.meta.dir, "../..");
const TIMEOUT = 240_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string[], cwd: string, env: Record<string, string> = {}): Run {
  const proc = Bun.spawnSync(cmd, { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

function ok(r: Run, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code})\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The version of a package the project itself has installed (so the consumer's install hits the cache). */
function projectVersion(pkg: string): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
}

/** The README's library example, word for word between its markers, wrapped to read the photos. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const match = /<!-- library-example -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error("README.md has no ```ts block after <!-- library-example -->");
  return match[1];
}

describeDatasets("the npm package", () => {
  let dir = "";
  let app = "";
  let tarball = "";
  let files: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "facegate-pack-"));
    app = join(dir, "app");
    const packed = ok(run(["npm", "pack", "--json", "--pack-destination", dir], ROOT), "npm pack");
    const info = JSON.parse(packed.slice(packed.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    tarball = join(dir, info[0]!.filename);
    files = info[0]!.files.map((f) => f.path);
    run(["mkdir", "-p", app], dir);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify(
        {
          name: "consumer",
          private: true,
          type: "module",
          dependencies: { facegate: `file:${tarball}` },
          devDependencies: { "@types/bun": projectVersion("@types/bun") },
        },
        null,
        2,
      ),
    );
    ok(run(["bun", "install"], app), "bun install of the tarball");
  }, TIMEOUT);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("ships dist/, the README and the LICENSE only", () => {
    expect(files).toContain("dist/lib/core/mod.js");
    expect(files).toContain("dist/lib/core/mod.d.ts");
    expect(files).toContain("dist/server/cli/facegate.js");
    expect(files).toContain("dist/models/manifest.json");
    // npm always packs LICENSE: the MIT terms travel with the code, as they must
    expect(files).toContain("LICENSE");
    const stray = files.filter((f) => !f.startsWith("dist/") && !["package.json", "README.md", "LICENSE"].includes(f));
    expect(stray).toEqual([]);
    expect(files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toBe(false);
    expect(files.some((f) => f.endsWith(".onnx") || f.includes("facegate.db"))).toBe(false);
  });

  const imports = `
import * as core from "facegate";
import * as engine from "facegate/engine";
import * as service from "facegate/service";
import * as nats from "facegate/nats";
import * as client from "facegate/client";
const checks = {
  core: new core.FaceError("NO_FACE", "x").status === 422 && core.OPERATIONS.recognizeFace === "recognize_face",
  engine: typeof engine.createEngine === "function",
  service: typeof service.LocalFaceService.create === "function",
  nats: typeof nats.FaceClient.connect === "function",
  client: typeof client.HttpFaceClient === "function",
  sameErrorClass: (await import("facegate/service")).LocalFaceService !== undefined && core.FaceError === (await import("facegate")).FaceError,
};
console.log(JSON.stringify(checks));
`;

  test("every subpath imports under Bun and under Node", () => {
    writeFileSync(join(app, "imports.mjs"), imports);
    for (const runtime of ["bun", "node"]) {
      const out = ok(run([runtime, "imports.mjs"], app), `${runtime} imports.mjs`);
      const checks = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, boolean>;
      expect({ runtime, checks }).toEqual({
        runtime,
        checks: { core: true, engine: true, service: true, nats: true, client: true, sameErrorClass: true },
      });
    }
  }, TIMEOUT);

  test("a strict consumer tsconfig (noUncheckedIndexedAccess, libraries checked) typechecks", () => {
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ESNext",
          module: "Preserve",
          moduleResolution: "bundler",
          // DOM only because onnxruntime-common's own .d.ts names WebGL/ImageData types
          lib: ["ESNext", "DOM"],
          types: ["bun"],
          strict: true,
          noUncheckedIndexedAccess: true,
          noImplicitOverride: true,
          exactOptionalPropertyTypes: false,
          skipLibCheck: false,
          noEmit: true,
          verbatimModuleSyntax: true,
        },
        include: ["check.ts"],
      }),
    );
    writeFileSync(
      join(app, "check.ts"),
      `${imports}
import type { FaceApi, Recognition } from "facegate";
export async function who(api: FaceApi, image: Uint8Array): Promise<Recognition> {
  return api.recognizeFace({ companyId: "acme", image });
}
export const made: Promise<service.LocalFaceService> = service.LocalFaceService.create({ store: new core.MemoryGalleryStore() });
`,
    );
    ok(run([process.execPath, join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], app), "tsc in the consumer");
  }, TIMEOUT);

  test("`facegate models` fetches the weights into the consumer's project; the README example runs twice", () => {
    const fetched = ok(run(["./node_modules/.bin/facegate", "models"], app), "facegate models");
    expect(fetched).toContain(`models ready in ${join(app, "facegate-models")}`);
    writeFileSync(join(app, "ann.jpg"), readDataset("lfw-dev/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"));
    writeFileSync(join(app, "frame.jpg"), readDataset("lfw-dev/images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg"));
    writeFileSync(join(app, "example.ts"), readmeExample());
    for (const round of [1, 2]) {
      const out = ok(run(["bun", "example.ts"], app), `README example, run ${round}`);
      expect(out).toContain("ann");
    }
  }, TIMEOUT);
});
