/**
 * deploy/healthcheck.ts, the image's HEALTHCHECK, against the real server process (the worker role is
 * exercised in the containers, test/deploy/compose.test.ts): exit 0 when /v1/health is 200, over
 * HTTPS when TLS_CERT_FILE is set and as the first ALLOWED_HOSTS name when that is set; exit 1 with
 * one "unhealthy:" line when nothing answers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tlsInit } from "../../server/cli/tls.ts";
import { ROOT } from "../helpers/datasets.ts";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.ts";
import { describeWithTools } from "../helpers/tools.ts";

const KEYS = '{"healthcheck-test-key-1":["*"]}';

async function healthcheck(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["bun", join(ROOT, "deploy/healthcheck.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, stderr };
}

describeWithTools(["openssl"], "deploy/healthcheck.ts (the image's HEALTHCHECK)", () => {
  let tmp = "";
  let tls: ReturnType<typeof tlsInit>;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "facegate-healthcheck-"));
    tls = tlsInit({ dir: join(tmp, "tls"), names: ["gate.example.lan"], ips: [] });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("HTTPS with TLS_CERT_FILE, asking as the first ALLOWED_HOSTS name; unhealthy once the server is gone", async () => {
    const env = {
      API_KEYS: KEYS,
      HOST: "127.0.0.1",
      STORE: "memory",
      TLS_CERT_FILE: tls.certFile,
      TLS_KEY_FILE: tls.keyFile,
      ALLOWED_HOSTS: "gate.example.lan",
    };
    server = await startServerProcess(env);
    const port = new URL(server.url).port;
    expect(await healthcheck({ ...env, PORT: port })).toEqual({ code: 0, stderr: "" });
    // the same probe without the allowed name is refused by the server: the check must send it
    const refused = await fetch(`https://127.0.0.1:${port}/v1/health`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(refused.status).not.toBe(200);
    await server.stop();
    server = undefined;
    const down = await healthcheck({ ...env, PORT: port });
    expect(down.code).toBe(1);
    expect(down.stderr).toStartWith("unhealthy: ");
  }, 60_000);

  test("plain HTTP on PORT: 0 while healthy", async () => {
    const env = { API_KEYS: KEYS, HOST: "127.0.0.1", STORE: "memory" };
    const s = await startServerProcess(env);
    try {
      expect(await healthcheck({ ...env, PORT: new URL(s.url).port })).toEqual({ code: 0, stderr: "" });
    } finally {
      await s.stop();
    }
  }, 60_000);
});
