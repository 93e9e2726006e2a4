/**
 * `.env.example` lists every setting the code reads, and only those. The settings the code reads are
 * found two ways: every config loader is run on an environment that records each name asked for, and
 * the source is scanned for direct reads (`process.env.X`, `env.X`, `env["X"]`, `get("X")`-style
 * helpers, and the env-name tables of the zod configs). A new setting without a catalog entry, a
 * catalog entry nothing reads, or a stale `.env.example` fails here, with the command to run.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "../../../lib/core/internal.ts";
import { loadEngineConfig } from "../../../lib/engine/internal.ts";
import { humanEnvOptions } from "../../../lib/engine/human/human.ts";
import { loadNatsConfig } from "../../../lib/nats/mod.ts";
import { loadServiceConfig } from "../../../lib/service/mod.ts";
import { renderEnvExample, settingsCatalog } from "../../../server/compose/settings.ts";
import { loadServerConfig } from "../../../server/config/server.ts";
import { loadIntegrationConfig } from "../../../server/integration/config.ts";
import { loadKioskConfig } from "../../../server/kiosk/config.ts";
import { eventSinkFromEnv } from "../../../server/kiosk/events.ts";
import { ROOT } from "../../helpers/datasets.ts";

const REGENERATE = "describe each new setting in server/compose/settings.ts, then run `bun run facegate env-example` and commit .env.example";

/** What each loader asks the environment for. */
function namesAskedByLoaders(): Set<string> {
  const asked = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_t, name) {
      if (typeof name === "string") asked.add(name);
      return undefined;
    },
    has(_t, name) {
      if (typeof name === "string") asked.add(name);
      return false;
    },
  });
  loadServerConfig(env, { readFile: () => "{}" });
  loadIntegrationConfig(env);
  loadKioskConfig(env);
  loadNatsConfig(env);
  loadServiceConfig(env);
  loadEngineConfig(env);
  humanEnvOptions(env);
  eventSinkFromEnv(env);
  return asked;
}

/** Names read directly in the source (everything that is not a test or a benchmark). */
function namesReadInSource(): Map<string, Set<string>> {
  const codes = new Set<string>(ERROR_CODES);
  const found = new Map<string, Set<string>>();
  const add = (name: string, file: string) => {
    if (codes.has(name)) return; // FaceError codes look like settings
    if (!found.has(name)) found.set(name, new Set());
    found.get(name)?.add(file);
  };
  for (const dir of ["server", "lib", "models", "scripts", "bin", "deploy"]) {
    for (const file of new Bun.Glob(`${dir}/**/*.ts`).scanSync({ cwd: ROOT })) {
      const text = readFileSync(join(ROOT, file), "utf8");
      if (!/\benv\b|process\.env|Bun\.env/.test(text)) continue;
      // process.env.X, Bun.env.X, env.X, env["X"]
      for (const m of text.matchAll(/(?:process\.env|Bun\.env|\benv)(?:\.([A-Z][A-Z0-9_]+)|\[\s*["'`]([A-Z][A-Z0-9_]+)["'`]\s*\])/g)) add(m[1] ?? m[2], file);
      // get("X"), int("X", ...), text(env, "X"), ...
      for (const m of text.matchAll(/\b(?:get|int|bytes|text|num|choice|flag|bool|list)\(\s*(?:env\s*,\s*)?"([A-Z][A-Z0-9_]+)"/g)) add(m[1], file);
      // zod env schemas and name tables: `X_Y: z...`, `X_Y: "field"`, `field: "X_Y"`
      for (const m of text.matchAll(/^\s*([A-Z][A-Z0-9]*_[A-Z0-9_]+)\s*:\s*(?:"[a-z]|z\b|int\(|bool|list)/gm)) add(m[1], file);
      for (const m of text.matchAll(/^\s*[a-z][A-Za-z0-9]*\s*:\s*"([A-Z][A-Z0-9]*_[A-Z0-9_]+)",?\s*$/gm)) add(m[1], file);
    }
  }
  return found;
}

describe(".env.example", () => {
  const catalog = settingsCatalog().flatMap((p) => p.settings.map((s) => s.name));

  test("each setting is listed once, with a meaning", () => {
    expect(catalog.filter((name, i) => catalog.indexOf(name) !== i)).toEqual([]);
    for (const part of settingsCatalog()) for (const s of part.settings) expect({ name: s.name, meaning: s.meaning.length > 8 }).toEqual({ name: s.name, meaning: true });
  });

  test("every setting read in code is in the catalog, and every catalog entry is read somewhere", () => {
    const inSource = namesReadInSource();
    const read = new Set([...namesAskedByLoaders(), ...inSource.keys()]);
    const missing = [...read].filter((name) => !catalog.includes(name)).sort();
    const unused = catalog.filter((name) => !read.has(name)).sort();
    const where = (name: string) => `${name} (${[...(inSource.get(name) ?? ["a config loader"])].join(", ")})`;
    if (missing.length > 0 || unused.length > 0) {
      throw new Error(
        [
          missing.length > 0 ? `read in code but not in .env.example: ${missing.map(where).join("; ")}` : "",
          unused.length > 0 ? `in .env.example but read nowhere: ${unused.join(", ")}` : "",
          REGENERATE,
        ]
          .filter(Boolean)
          .join("\n"),
      );
    }
    expect(read.size).toBeGreaterThan(100);
  });

  test("the committed file is what the catalog generates", () => {
    const committed = readFileSync(join(ROOT, ".env.example"), "utf8");
    if (committed !== renderEnvExample()) throw new Error(`.env.example is out of date: ${REGENERATE}`);
    // and every entry is a commented assignment a user can uncomment
    for (const name of catalog) expect(committed).toMatch(new RegExp(`^# ${name}=`, "m"));
  });

  test("the defaults are the configs' own (a changed default changes the file)", () => {
    const text = renderEnvExample();
    expect(text).toContain("# PORT=8080\n");
    expect(text).toContain("# KIOSK_CONFIRM_FRAMES=3\n");
    expect(text).toContain("# NATS_KV_BUCKET=facegate\n");
    expect(text).toContain("# FACE_DETECTION_THRESHOLD=0.85\n");
    expect(text).toContain("# WEBHOOK_ALLOW_PRIVATE=false\n");
    expect(text).toContain("# KIOSK_CHALLENGE_ACTIONS=turn_left,turn_right\n");
  });
});
