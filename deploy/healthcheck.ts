/**
 * The image's HEALTHCHECK (Containerfile): exit 0 when this container's facegate answers, 1 otherwise.
 *
 * The role is read from PID 1's command line (deploy/entrypoint.sh execs it): the server roles are
 * asked GET /v1/health (200 once the service has loaded; in gateway mode once a worker answers), a
 * worker is asked its own health over NATS on the subject only it subscribes to (WORKER_ID, which the
 * entrypoint sets to the container's host name), so a replica that has lost NATS or hangs is unhealthy.
 */
import { readFileSync } from "node:fs";

const TIMEOUT_MS = 4_000;

/** PID 1's NUL-separated /proc file (cmdline, environ) as a list; empty when unreadable. */
function pid1(file: "cmdline" | "environ"): string[] {
  try {
    return readFileSync(`/proc/1/${file}`, "utf8").split("\0");
  } catch {
    return [];
  }
}

async function serverHealthy(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const tls = Boolean(env.TLS_CERT_FILE);
  const bound = env.HOST && env.HOST !== "0.0.0.0" && env.HOST !== "::" ? env.HOST : "127.0.0.1";
  const host = bound.includes(":") ? `[${bound}]` : bound;
  const url = `${tls ? "https" : "http"}://${host}:${env.PORT || "8080"}/v1/health`;
  // With ALLOWED_HOSTS set the server answers only those names (DNS rebinding guard): ask as the first.
  const allowed = (env.ALLOWED_HOSTS ?? "").split(",").map((h) => h.trim()).find((h) => h && !h.includes("*"));
  const res = await fetch(url, {
    signal: AbortSignal.timeout(TIMEOUT_MS),
    headers: allowed ? { Host: allowed } : {},
    // a probe of this container's own listener: its certificate names the public host, not 127.0.0.1
    tls: { rejectUnauthorized: false },
  } as RequestInit);
  return res.status === 200 ? undefined : `${url} answered ${res.status}`;
}

async function workerHealthy(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const { connect } = await import("@nats-io/transport-node");
  const { connectionOptions, encodeId, loadNatsConfig, subjectFor } = await import("../lib/nats/mod.ts");
  // the entrypoint exports WORKER_ID to the worker only: read it from the worker's environment
  const workerId = pid1("environ").find((v) => v.startsWith("WORKER_ID="))?.slice("WORKER_ID=".length) || env.WORKER_ID;
  if (!workerId) return "WORKER_ID is not set (the entrypoint sets it)";
  const config = loadNatsConfig(env);
  const nc = await connect({ ...connectionOptions(config, `facegate-healthcheck-${workerId}`), timeout: TIMEOUT_MS });
  try {
    // the worker's direct subjects: <prefix>.w.<id>.<operation> (lib/nats/protocol.ts directPrefix)
    const subject = subjectFor("healthCheck", `${config.subjectPrefix}.w.${encodeId(workerId)}`);
    const reply = await nc.request(subject, new TextEncoder().encode("{}"), { timeout: TIMEOUT_MS });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as { result?: unknown; error?: { code: string; message: string } };
    return body.result ? undefined : `worker ${workerId} answered ${body.error?.code ?? "no result"}: ${body.error?.message ?? ""}`;
  } finally {
    await nc.close();
  }
}

const check = pid1("cmdline").some((arg) => /\bworker\.ts$/.test(arg)) ? workerHealthy : serverHealthy;
try {
  const problem = await check(process.env);
  if (problem) {
    console.error(`unhealthy: ${problem}`);
    process.exit(1);
  }
  process.exit(0);
} catch (error) {
  console.error(`unhealthy: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
