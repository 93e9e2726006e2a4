/**
 * The real server as a child process (`bun server/main.ts`): started with only the given
 * environment (plus PATH and HOME), ready when it logged "ready", its log lines kept (stdout is
 * drained so the pipe never blocks it). For tests that kill it, restart it or drive it from python3.
 */
import { join } from "node:path";
import { ROOT } from "./datasets.ts";

export interface ServerProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  lines: string[];
  /** SIGTERM (or `signal`) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export async function startServerProcess(env: Record<string, string>, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ServerProcess> {
  const proc = Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", LOG_LEVEL: "info", FACE_ENGINE_WORKERS: "1", WEBHOOK_ALLOW_PRIVATE: "true", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  let ready: (url: string) => void = () => {};
  let failed: (e: Error) => void = () => {};
  const readyP = new Promise<string>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  let url = "";
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value);
      let i: number;
      while ((i = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push(line);
        if (line.includes('"msg":"listening"')) url = (JSON.parse(line) as { url: string }).url;
        if (line.includes('"msg":"ready"')) ready(url);
      }
    }
  })();
  void proc.exited.then(async (code) => failed(new Error(`server exited with ${code} before it was ready: ${await new Response(proc.stderr as ReadableStream).text()}`)));
  const timer = setTimeout(() => failed(new Error("server not ready in time")), opts.timeoutMs ?? 60_000);
  try {
    url = await readyP;
  } catch (error) {
    proc.kill("SIGKILL");
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    url,
    proc,
    lines,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      proc.kill(signal);
      return proc.exited;
    },
  };
}
