/**
 * The static pages (server/pages.ts) through the app: index and assets from dist with their types,
 * the console's Content-Security-Policy, no path outside dist, and a clear 503 when a page is not built.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FaceApi } from "../../../lib/core/mod.ts";
import { ensurePagesBuilt } from "../../../scripts/build-pages.ts";
import { createApp } from "../../../server/http/app.ts";
import { createLogger } from "../../../server/observe/logger.ts";
import { PAGES, pagesPlugin } from "../../../server/http/pages.ts";

// The pages never call the service: an empty FaceApi shows that they do not.
const noApi = {} as FaceApi;

describe("pagesPlugin", () => {
  let tmp: string;
  beforeAll(async () => {
    await ensurePagesBuilt();
    tmp = mkdtempSync(join(tmpdir(), "facegate-pages-serve-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("serves the kiosk and the console from their builds", async () => {
    const app = createApp({ api: noApi, plugins: [pagesPlugin()] });
    for (const path of ["/admin", "/admin/", "/kiosk", "/kiosk/"]) {
      const res = await app.request(path);
      expect({ path, status: res.status, type: res.headers.get("content-type") }).toEqual({ path, status: 200, type: "text/html; charset=utf-8" });
      expect(await res.text()).toContain("<!doctype html>");
    }
    const js = await app.request("/admin/app.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("no-cache");
    expect((await app.request("/kiosk/style.css")).headers.get("content-type")).toBe("text/css; charset=utf-8");

    // The console holds an admin key: only its own origin may run or load anything; it cannot be framed.
    const csp = (await app.request("/admin")).headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect((await app.request("/admin")).headers.get("referrer-policy")).toBe("no-referrer");
  });

  test("nothing outside dist: traversal, dot files and unknown files are 404 in the API's error shape", async () => {
    const app = createApp({ api: noApi, plugins: [pagesPlugin()] });
    for (const path of ["/admin/..%2Fpackage.json", "/admin/.env", "/admin/%2e%2e%2fpackage.json", "/kiosk/nothing.js", "/admin/..%2F..%2Fpackage.json"]) {
      const res = await app.request(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
  });

  test("a page that is not built answers 503 naming the build command, and the server still starts", async () => {
    const dir = join(tmp, "unbuilt-web");
    mkdirSync(dir, { recursive: true });
    const warnings: string[] = [];
    const logger = createLogger("warn", (line) => warnings.push(line));
    const app = createApp({ api: noApi, logger, plugins: [pagesPlugin({ pages: [{ name: "unbuilt", mount: "/unbuilt", dir }] })] });
    expect(warnings.join("\n")).toContain("bun run build:pages");
    for (const path of ["/unbuilt", "/unbuilt/app.js"]) {
      const res = await app.request(path);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("UNAVAILABLE");
      expect(body.error.message).toContain("bun run build:pages");
    }
    // Once built, the same plugin serves it (dist is read per request, never cached).
    mkdirSync(join(dir, "dist"), { recursive: true });
    writeFileSync(join(dir, "dist/index.html"), "<!doctype html><p>built</p>");
    expect(await (await app.request("/unbuilt")).text()).toContain("built");
  });

  test("PAGES: the kiosk at /kiosk and the console at /admin", () => {
    expect(PAGES.map((p) => [p.name, p.mount])).toEqual([["kiosk", "/kiosk"], ["admin", "/admin"]]);
  });
});
