/**
 * The real server for the console's browser tests: `bun server/main.ts` as its own process (as
 * `bun run start` runs it, after the pages are built), with API keys, SQLite in a temp dir, on a free port.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../../lib/nats/mod.ts";
import { ensurePagesBuilt } from "../../scripts/build-pages.ts";
import { ROOT } from "../helpers/datasets.ts";
import type { ApiKeysMap } from "../../server/config/server.ts";

export interface ServerProcess {
  url: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server wrote (JSON log lines), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function startServerProcess(apiKeys: ApiKeysMap, env: Record<string, string> = {}): Promise<ServerProcess> {
  await ensurePagesBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), "facegate-admin-data-"));
  const port = await freePort();
  const proc = Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      API_KEYS: JSON.stringify(apiKeys),
      DATA_DIR: dataDir,
      DATA_SOURCE: "NONE",
      LOG_LEVEL: "warn",
      // Two engine threads: the machine is shared; the console's calls are few.
      FACE_ENGINE_WORKERS: "2",
      // test webhook receivers listen on 127.0.0.1
      WEBHOOK_ALLOW_PRIVATE: "true",
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value);
    }
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the server exited (${proc.exitCode}):\n${out}`);
    const ok = await fetch(`${url}/v1/health`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`the server did not become healthy in 120 s:\n${out}`);
    }
    await Bun.sleep(250);
  }
  return {
    url,
    proc,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => null)]);
      if (exited === null) proc.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
