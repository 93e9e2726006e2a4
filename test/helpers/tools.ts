/**
 * System programs some tests need (nats-server, chromium, ffmpeg, openssl, python3, mosquitto), and one system
 * library (libjpeg-turbo's TurboJPEG, which the engine loads when present). A fresh machine with
 * only Node, npm and Bun lacks them: there such suites skip with a one-line reason (which program,
 * which Debian package). In CI (CI=true) a missing program is a failure at import, so nothing
 * skips there (.ci/run installs them).
 */
import { describe } from "bun:test";
import { dlopen } from "bun:ffi";
import { recordSkip } from "./skips.ts";

/** The programs tests may need, and the Debian package that installs each. */
export const TOOLS = {
  "nats-server": { pkg: "nats-server", env: "NATS_SERVER_BIN" },
  chromium: { pkg: "chromium", env: undefined },
  ffmpeg: { pkg: "ffmpeg", env: undefined },
  openssl: { pkg: "openssl", env: undefined },
  // NSS's certutil: trusting a local CA in Chromium's certificate database (test/server/http/tls.test.ts)
  certutil: { pkg: "libnss3-tools", env: undefined },
  // the reverse-proxy guide's test (test/server/http/reverse-proxy.test.ts); Debian puts it in /usr/sbin
  nginx: { pkg: "nginx", env: undefined },
  python3: { pkg: "python3", env: undefined },
  // the container tests (test/deploy): podman with runc, docker-compose over podman's API, debootstrap for the base
  podman: { pkg: "podman", env: undefined },
  runc: { pkg: "runc", env: undefined },
  "docker-compose": { pkg: "docker-compose", env: undefined },
  debootstrap: { pkg: "debootstrap", env: undefined },
  // deploy/facegate.service is checked with systemd-analyze verify (test/deploy/systemd.test.ts)
  "systemd-analyze": { pkg: "systemd", env: undefined },
  mosquitto: { pkg: "mosquitto", env: "MOSQUITTO_BIN" },
  libturbojpeg: { pkg: "libturbojpeg0", env: undefined, library: { file: "libturbojpeg.so.0", symbol: "tjInitDecompress" } },
} as const satisfies Record<string, { pkg: string; env: string | undefined; library?: { file: string; symbol: string } }>;
export type Tool = keyof typeof TOOLS;

// Debian puts nats-server and mosquitto in /usr/sbin, which is not on a normal user's PATH.
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const found = new Map<Tool, string | undefined>();

/**
 * Absolute path of `name`, or undefined when the machine lacks it. An override variable (e.g.
 * NATS_SERVER_BIN, as lib/nats/server-process.ts honours) wins: its value is the program to run.
 */
export function toolPath(name: Tool): string | undefined {
  if (found.has(name)) return found.get(name);
  const tool = TOOLS[name];
  if ("library" in tool) {
    found.set(name, loadable(tool.library.file, tool.library.symbol) ? tool.library.file : undefined);
    return found.get(name);
  }
  const override = TOOLS[name].env ? process.env[TOOLS[name].env] : undefined;
  const path = override
    ? (Bun.which(override) ?? undefined)
    : (Bun.which(name) ?? Bun.which(name, { PATH: SYSTEM_PATH }) ?? undefined);
  found.set(name, path);
  return path;
}

/** Whether the dynamic linker loads `library` and finds `symbol` in it (what the engine's dlopen will do). */
function loadable(library: string, symbol: string): boolean {
  try {
    dlopen(library, { [symbol]: { args: [], returns: "ptr" } }).close();
    return true;
  } catch {
    return false;
  }
}

export function haveTool(name: Tool): boolean {
  return toolPath(name) !== undefined;
}

/** Why a suite cannot run here, in one line; undefined when every tool is present. */
export function missingToolsReason(names: readonly Tool[]): string | undefined {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length === 0) return undefined;
  const where = missing.map((n) => {
    const env = TOOLS[n].env;
    return env && process.env[env] ? `${n} (${env}=${process.env[env]})` : n;
  });
  const pkgs = [...new Set(missing.map((n) => TOOLS[n].pkg))].join(" ");
  return `${where.join(", ")} not found (install ${missing.length > 1 ? "them" : "it"}: apt-get install ${pkgs})`;
}

/**
 * `describe` for suites that need system programs. When one is missing: outside CI, ONE line
 * the suite is recorded for the end-of-run summary (test/helpers/skips.ts) and not registered at all
 * (so neither its tests nor its hooks, which would start the program, run); in CI, an error at import.
 * `base` lets it wrap another describe, e.g. `describeDatasets` for suites that need both.
 */
export function describeWithTools(
  names: readonly Tool[],
  name: string,
  fn: () => void,
  base: (name: string, fn: () => void) => void = describe,
): void {
  const reason = missingToolsReason(names);
  if (reason === undefined) return base(name, fn);
  if (process.env.CI === "true") throw new Error(`CI=true but ${reason}; needed by "${name}"`);
  const pkgs = [...new Set(names.filter((n) => !haveTool(n)).map((n) => TOOLS[n].pkg))].join(" ");
  recordSkip({ suite: name, reason, enable: `apt-get install ${pkgs} (CI=true makes a missing tool an error)` });
  // register nothing: a skipped describe would still list its hooks as "(unnamed)" skipped tests
  void fn;
}
