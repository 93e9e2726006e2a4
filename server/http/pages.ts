/**
 * The server's static pages (the kiosk at `/kiosk`, the admin console at `/admin`): each is a
 * folder built ahead of time into `<folder>/dist` by `bun run build:pages` (scripts/build-pages.ts;
 * `bun run start` and the tests build when dist is missing or stale). The server only reads the
 * built files: no bundler at runtime.
 *
 *   createApp({ ..., plugins: [pagesPlugin()] })     // or pagesPlugin({ pages: [...] })
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FaceError } from "../../lib/core/mod.ts";
import type { Plugin } from "./app.ts";

export interface PageSpec {
  /** Short name, used in messages ("kiosk", "admin"). */
  name: string;
  /** Where it is served: `GET <mount>` is index.html, `GET <mount>/<file>` an asset. */
  mount: `/${string}`;
  /** The page's folder: index.html, style.css, src/main.ts; the build goes to `<dir>/dist`. */
  dir: string;
  /** Content-Security-Policy for the page's files (none when absent). */
  csp?: string;
}

const ROOT = resolve(import.meta.dir, "../..");

/**
 * The console holds an admin key: nothing but its own origin may run, load or frame anything.
 * Camera frames and dropped photos are shown through blob: URLs.
 */
const ADMIN_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join("; ");

export const PAGES: readonly PageSpec[] = Object.freeze([
  { name: "kiosk", mount: "/kiosk", dir: join(ROOT, "kiosk-web") },
  { name: "admin", mount: "/admin", dir: join(ROOT, "admin-web"), csp: ADMIN_CSP },
]);

/** Where a page's build is. */
export function pageDist(page: Pick<PageSpec, "dir">): string {
  return join(page.dir, "dist");
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

/** One path segment, no dot files: nothing outside dist can be named. */
const FILE_NAME = /^[\w-][\w.-]*$/;

export interface PagesPluginOptions {
  /** Default: PAGES (kiosk and admin). */
  pages?: readonly PageSpec[];
}

/** Serves each page's dist folder; a page that is not built answers 503 naming the command. */
export function pagesPlugin(options: PagesPluginOptions = {}): Plugin {
  const pages = options.pages ?? PAGES;
  return (app, { logger }) => {
    for (const page of pages) {
      const dist = pageDist(page);
      if (!existsSync(join(dist, "index.html"))) {
        logger.warn(`the ${page.name} page is not built; run \`bun run build:pages\``, { page: page.name, dist });
      }
      const serve = async (file: string): Promise<Response> => {
        if (!FILE_NAME.test(file)) throw new FaceError("NOT_FOUND", `no such ${page.name} file: ${file.slice(0, 100)}`);
        let bytes: Uint8Array<ArrayBuffer>;
        try {
          bytes = new Uint8Array(await readFile(join(dist, file)));
        } catch {
          if (!existsSync(join(dist, "index.html"))) {
            throw new FaceError("UNAVAILABLE", `the ${page.name} page is not built: run \`bun run build:pages\``);
          }
          throw new FaceError("NOT_FOUND", `no such ${page.name} file: ${file}`);
        }
        const ext = file.slice(file.lastIndexOf(".") + 1);
        const headers: Record<string, string> = {
          "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
          // dist is rebuilt in place: always revalidate.
          "cache-control": "no-cache",
          "referrer-policy": "no-referrer",
        };
        if (page.csp) headers["content-security-policy"] = page.csp;
        return new Response(bytes, { headers });
      };
      app.get(page.mount, () => serve("index.html"));
      app.get(`${page.mount}/`, () => serve("index.html"));
      app.get(`${page.mount}/:file`, (c) => serve(c.req.param("file")));
    }
  };
}
