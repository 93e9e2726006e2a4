/**
 * A real mosquitto broker for tests (Debian's `mosquitto`): a free port on 127.0.0.1, persistence
 * in a temporary folder (so persistent sessions and retained messages survive `restart()`, as a
 * production broker configured with `persistence true` does), anonymous access; `stop()`,
 * `restart()` (same port and store) and `cleanup()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/nats/mod.ts";
import { toolPath } from "./tools.ts";

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

async function listening(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${ms} ms`);
}

export async function startMosquitto(): Promise<Mosquitto> {
  const bin = toolPath("mosquitto");
  if (!bin) throw new Error("mosquitto not found (apt-get install mosquitto)");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "facegate-mosquitto-"));
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      // started as root (CI), mosquitto would switch to the user "mosquitto", who cannot write this folder
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      "allow_anonymous true", "persistence true", `persistence_location ${dir}/`, "autosave_interval 1", "log_dest stderr", "log_type error", ""].join("\n"),
  );
  let proc: ChildProcess | null = null;
  let log = "";
  const start = async () => {
    proc = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.on("data", (d) => (log = (log + String(d)).slice(-4000)));
    try {
      await listening(port);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${log}`);
    }
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    // SIGTERM: mosquitto saves its persistence file on the way out
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    stop,
    restart: start,
    async cleanup() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
