/**
 * `bun run cluster` (server/compose/cluster.ts) as an operator runs it: a busy gateway port is one clear
 * line naming --port (no EADDRINUSE stack, nothing started); `--nats-nodes 3` brings up a 3-node
 * NATS cluster, a worker and the gateway, and Ctrl-C stops them all. `bun run start` on a busy
 * port names PORT.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../helpers/datasets.ts";
import { freePort } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let busy: ReturnType<typeof Bun.serve>;
let cwd = "";

async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000) {
  const proc = Bun.spawn(["bun", ...args], { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

describeWithTools(["nats-server"], "bun run cluster", () => {
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), "facegate-cluster-test-"));
    busy = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("another server") });
  });
  afterAll(() => {
    busy?.stop(true);
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  test("a busy gateway port: one line naming --port, exit 1, no stack, nothing started", async () => {
    const r = await run([join(ROOT, "server/compose/cluster.ts"), "--port", String(busy.port), "--nats-nodes", "3"]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`[cluster] port ${busy.port} is already in use (is \`bun run start\` or another cluster running?); choose another with --port P`);
    expect(r.out).not.toContain("nats-server");
  });

  test("bun run start on a busy port: one line naming PORT, exit 1", async () => {
    const r = await run([join(ROOT, "server/main.ts")], { PORT: String(busy.port), HOST: "127.0.0.1", STORE: "memory" });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`127.0.0.1:${busy.port} is already in use`);
    expect(r.err).toContain("set PORT");
    expect(r.err).not.toMatch(/^\s+at /m);
  });

  test("--nats-nodes 3: a 3-node NATS cluster, a worker and the gateway come up; SIGINT stops everything", async () => {
    const port = await freePort();
    const proc = spawn("bun", [join(ROOT, "server/compose/cluster.ts"), "--nats-nodes", "3", "--workers", "1", "--port", String(port)], {
      cwd,
      env: { ...process.env, STORE: "memory" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout!.on("data", (d) => (out += d));
    proc.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.once("exit", (c) => r(c)));
    try {
      const deadline = Date.now() + 120_000;
      while (!out.includes("[cluster] up:") && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(200);
      expect(out).toContain("3-node NATS cluster");
      expect(out).toContain("bucket and events with 3 replicas");
      expect(out).toContain("[cluster] up: 3 NATS node(s), 1 worker(s)");
      const health = await fetch(`http://127.0.0.1:${port}/v1/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("healthy");
    } finally {
      // Ctrl-C: gateway, worker and the three nats-servers stop (also when an expectation failed).
      proc.kill("SIGINT");
      expect(await exited).toBe(0);
    }
    expect(out).toContain("[cluster] stopping");
  }, 180_000);
});
