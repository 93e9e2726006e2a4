/**
 * deploy/facegate.service: `systemd-analyze verify` accepts it (every key known, the command found
 * in systemd's search path), and its command, run the way systemd runs it (WorkingDirectory = this
 * checkout, its Environment= and an EnvironmentFile's settings, systemd's PATH, the state directory
 * as DATA_DIR), serves a health 200 and on its KillSignal drains and exits 0 within TimeoutStopSec.
 * PID 1 here is not systemd, so the unit is not started by systemd itself.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/nats/mod.ts";
import { ROOT } from "../helpers/datasets.ts";
import { describeWithTools } from "../helpers/tools.ts";

const UNIT = join(ROOT, "deploy/facegate.service");
/** The search path systemd uses for a command that is not an absolute path (systemd.exec(5)). */
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** [Service] keys of the unit; repeated keys keep every value in order. */
function serviceSection(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf("=");
    if (section !== "Service" || eq < 0) continue;
    const key = line.slice(0, eq);
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

describeWithTools(["systemd-analyze"], "deploy/facegate.service (systemd)", () => {
  let tmp = "";
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-systemd-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("systemd-analyze verify accepts the unit", async () => {
    const proc = Bun.spawn(["systemd-analyze", "verify", UNIT], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(`${out}${err}`.trim()).toBe("");
    expect(code).toBe(0);
  });

  test("its command serves, and its KillSignal drains and exits 0 within TimeoutStopSec", async () => {
    const unit = serviceSection(readFileSync(UNIT, "utf8"));
    const [execStart] = unit.get("ExecStart") ?? [];
    const [killSignal] = unit.get("KillSignal") ?? [];
    const stopSeconds = Number(unit.get("TimeoutStopSec")?.[0]);
    expect(unit.get("WorkingDirectory")).toEqual(["/opt/facegate"]);
    expect(unit.get("StateDirectory")).toEqual(["facegate"]);
    const env: Record<string, string> = {};
    for (const line of unit.get("Environment") ?? []) {
      for (const assignment of line.split(/\s+/)) {
        const eq = assignment.indexOf("=");
        env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
      }
    }
    expect(env.DATA_DIR).toBe("/var/lib/facegate");
    // the state directory and the EnvironmentFile's settings, here in a temporary folder
    const port = await freePort();
    const settings = { API_KEYS: '{"systemd-test-key-1":["*"]}', PORT: String(port), LOG_LEVEL: "info" };
    const [command, ...args] = execStart.split(/\s+/);
    const bin = Bun.which(command, { PATH: SYSTEMD_PATH });
    expect(bin).toBeTruthy();
    const proc = Bun.spawn([bin!, ...args], {
      cwd: ROOT, // the checkout (/opt/facegate in the unit)
      env: { PATH: SYSTEMD_PATH, ...env, DATA_DIR: join(tmp, "state"), ...settings },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 45_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await fetch(`${url}/v1/health`).catch(() => undefined))?.status ?? 0;
        if (status !== 200) await Bun.sleep(250);
      }
      expect(status).toBe(200);
      const stopped = Date.now();
      proc.kill(killSignal as NodeJS.Signals);
      expect(await proc.exited).toBe(0);
      expect(Date.now() - stopped).toBeLessThan(stopSeconds * 1000);
      expect(await new Response(proc.stdout).text()).toContain('"msg":"stopped"');
      expect(readFileSync(join(tmp, "state/facegate.db")).byteLength).toBeGreaterThan(0);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);
});
