/**
 * The import graph of lib/ and server/ (type imports and dynamic imports included), built from the
 * sources: no import cycle between files; the parts are layered, each imports only the parts below
 * it (the order in LAYERS); a lib part is reached from outside only through its mod.ts (the public
 * face) or internal.ts (the friend face for the other parts, tests and benchmarks).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/**
 * Top to bottom. A part is a folder under lib/ or server/ with its subfolders (inside a part, only
 * file cycles are refused); `server` is the root's entry points (main.ts, mod.ts). Parts on one line
 * are independent: neither may import the other.
 */
const LAYERS: string[][] = [
  ["server"],
  ["server/cli"],
  ["server/compose"],
  ["server/kiosk"],
  ["server/http"],
  ["server/desk"],
  ["server/integration"],
  ["server/observe"],
  ["server/config"],
  ["lib/service", "lib/nats"],
  ["lib/engine"],
  ["lib/core"],
  ["models"],
];
const RANK = new Map(LAYERS.flatMap((parts, rank) => parts.map((part) => [part, rank] as const)));

/** The lib parts whose insides only their own files and their own tests import. */
const FACED = ["lib/core", "lib/engine", "lib/service", "lib/nats"];
/**
 * Loaded by file on purpose: createEngine() imports an engine only when it is asked for (Human
 * brings TensorFlow.js), and worker threads start from a file.
 */
const LAZY_ENTRIES = [/^lib\/engine\/human\//, /^lib\/engine\/onnx\/(onnx|insightface)\.ts$/, /^lib\/engine\/engine-worker\.ts$/, /^lib\/service\/scan-worker\.ts$/];

const SPECIFIER = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (name === "node_modules" || name === "dist") continue;
    if (statSync(join(ROOT, path)).isDirectory()) sources(path, out);
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** file → the repository files it imports (relative specifiers only: packages are not ours). */
function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap((d) => sources(d))) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets: string[] = [];
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith(".")) targets.push(relative(ROOT, resolve(ROOT, dirname(file), spec)));
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function partOf(file: string): string | undefined {
  if (file.startsWith("models/")) return "models";
  if (/^server\/[^/]+$/.test(file)) return "server";
  const m = /^(lib|server)\/([^/]+)\//.exec(file);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** Whose insides `file` may import: its own part's, and for a test, the part it tests. */
function insider(file: string): string | undefined {
  return partOf(file.startsWith("test/") ? file.slice("test/".length) : file);
}

describe("the import graph of lib/ and server/", () => {
  const graph = importGraph(["lib", "server"]);

  test("has the files it should (the scan works)", () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(graph.get("server/main.ts")).toContain("server/http/serve.ts");
    expect(graph.get("lib/engine/create.ts")).toContain("lib/engine/worker-pool.ts"); // a dynamic import
  });

  test("no import cycle between files", () => {
    expect(cycles(graph)).toEqual([]);
  });

  test("every file belongs to a part of the layer order", () => {
    const unplaced = [...graph.keys()].filter((f) => !RANK.has(partOf(f) ?? ""));
    expect(unplaced).toEqual([]);
  });

  test("every part imports only the parts below it", () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = partOf(file)!;
      for (const target of targets) {
        const to = partOf(target);
        if (to === undefined || to === from) continue;
        if (!(RANK.get(to)! > RANK.get(from)!)) upward.push(`${file} -> ${target} (${from} may not import ${to})`);
      }
    }
    expect(upward).toEqual([]);
  });

  test("a lib part is imported from outside only through mod.ts or internal.ts", () => {
    const all = importGraph(["lib", "server", "test", "bench", "scripts"]);
    const deep: string[] = [];
    for (const [file, targets] of all) {
      for (const target of targets) {
        const part = FACED.find((p) => target.startsWith(`${p}/`));
        if (!part || insider(file) === part) continue;
        if (target === `${part}/mod.ts` || target === `${part}/internal.ts`) continue;
        if (LAZY_ENTRIES.some((re) => re.test(target))) continue;
        deep.push(`${file} -> ${target}`);
      }
    }
    expect(deep).toEqual([]);
  });
});

describe("the checks themselves", () => {
  test("a cycle is found, with every file in it", () => {
    const g = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cycles(g)).toEqual([["a.ts", "b.ts", "c.ts"]]);
    expect(cycles(new Map([["a.ts", ["b.ts"]], ["b.ts", []]]))).toEqual([]);
  });

  test("parts: a subfolder belongs to its part, the server root to `server`", () => {
    expect(partOf("server/http/middleware/scope.ts")).toBe("server/http");
    expect(partOf("server/main.ts")).toBe("server");
    expect(partOf("lib/engine/onnx/ort.ts")).toBe("lib/engine");
    expect(insider("test/lib/core/gallery.test.ts")).toBe("lib/core");
  });
});
