/**
 * The page build (scripts/build-pages.ts): a bundle plus the list of its inputs; staleness follows
 * every input (an imported module in another folder included); the real pages build and reference
 * nothing outside their own origin.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPage, ensurePagesBuilt, pageIsCurrent } from "../../scripts/build-pages.ts";
import { PAGES, pageDist, type PageSpec } from "../../server/http/pages.ts";

describe("buildPage / pageIsCurrent", () => {
  let tmp: string;
  let page: PageSpec;
  let shared: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-pages-"));
    const dir = join(tmp, "demo-web");
    mkdirSync(join(dir, "src"), { recursive: true });
    // A module outside the page's folder, as the console imports the kiosk's camera code.
    shared = join(tmp, "shared.ts");
    writeFileSync(shared, "export const greeting = (name: string): string => `hello ${name}`;\n");
    writeFileSync(join(dir, "src/main.ts"), 'import { greeting } from "../../shared.ts";\ndocument.title = greeting("page");\n');
    writeFileSync(join(dir, "index.html"), '<!doctype html><script type="module" src="/demo/app.js"></script>\n');
    writeFileSync(join(dir, "style.css"), "body { margin: 0 }\n");
    page = { name: "demo", mount: "/demo", dir };
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("a missing build is stale; a build is current and lists its inputs", async () => {
    expect(pageIsCurrent(page)).toBe(false);
    const files = await buildPage(page);
    expect(files).toEqual(["app.js", "app.js.map", "index.html", "inputs.json", "style.css"]);
    const dist = pageDist(page);
    expect(readFileSync(join(dist, "app.js"), "utf8")).toContain("hello ");
    const { inputs } = JSON.parse(readFileSync(join(dist, "inputs.json"), "utf8")) as { inputs: string[] };
    expect(inputs.some((p) => p.endsWith("demo-web/src/main.ts"))).toBe(true);
    expect(inputs.some((p) => p.endsWith("/shared.ts"))).toBe(true);
    expect(pageIsCurrent(page)).toBe(true);
  });

  test("a changed imported module, html or css makes it stale; a rebuild makes it current", async () => {
    // Each edit dated after the current build's marker (file times may be coarse).
    const later = (path: string) => {
      const t = new Date(statSync(join(pageDist(page), "index.html")).mtimeMs + 2_000);
      utimesSync(path, t, t);
    };
    for (const file of [shared, join(page.dir, "index.html"), join(page.dir, "style.css")]) {
      later(file);
      expect({ file, current: pageIsCurrent(page) }).toEqual({ file, current: false });
      await buildPage(page);
      // The rebuilt marker is dated now, before the future-dated edit: date it as if built later.
      const t = new Date(statSync(file).mtimeMs + 1_000);
      utimesSync(join(pageDist(page), "index.html"), t, t);
      expect(pageIsCurrent(page)).toBe(true);
    }
  });

  test("an incomplete dist (no inputs list, or no bundle) is stale", async () => {
    await buildPage(page);
    rmSync(join(pageDist(page), "inputs.json"));
    expect(pageIsCurrent(page)).toBe(false);
    await buildPage(page);
    rmSync(join(pageDist(page), "app.js"));
    expect(pageIsCurrent(page)).toBe(false);
  });

  test("a page that does not compile fails the build and leaves the previous dist in place", async () => {
    await buildPage(page);
    const before = readFileSync(join(pageDist(page), "app.js"), "utf8");
    const main = join(page.dir, "src/main.ts");
    const source = readFileSync(main, "utf8");
    writeFileSync(main, 'import { nothing } from "./missing.ts";\nnothing();\n');
    try {
      await expect(buildPage(page)).rejects.toThrow(/demo page build failed/);
      expect(readFileSync(join(pageDist(page), "app.js"), "utf8")).toBe(before);
    } finally {
      writeFileSync(main, source);
    }
  });
});

test("the real pages build; each bundle loads nothing from another origin", async () => {
  await ensurePagesBuilt();
  for (const page of PAGES) {
    expect(pageIsCurrent(page)).toBe(true);
    const dist = pageDist(page);
    for (const file of ["index.html", "style.css"]) {
      // No CDN: no absolute URLs in the markup or the styles.
      expect({ file: `${page.name}/${file}`, external: readFileSync(join(dist, file), "utf8").match(/(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?\/\//g) }).toEqual({ file: `${page.name}/${file}`, external: null });
    }
    expect(existsSync(join(dist, "app.js"))).toBe(true);
    // The bundle imports nothing: everything it needs is inside it.
    expect(readFileSync(join(dist, "app.js"), "utf8")).not.toMatch(/\bimport\s*[("']|\bimport\s*\{[^}]*\}\s*from/);
  }
});
