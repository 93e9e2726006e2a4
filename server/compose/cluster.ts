/**
 * `bun run cluster -- --workers N [--nats-nodes 3]`: a local demo of the scale-out. Starts a
 * nats-server (or, with --nats-nodes N > 1, an N-node cluster: routes between all nodes, JetStream
 * on each, the KV bucket and event stream with 3 replicas), N workers (`server/compose/worker.ts`) and the
 * gateway (`server/main.ts` with NATS_URL), prefixes their output, and stops them all on Ctrl-C
 * (SIGTERM to each: workers drain, then the nats-server(s) stop).
 *
 * With several nodes, worker i is given node (i mod N)'s URL and the gateway the next node's: each
 * process learns the other nodes from the cluster (the server's INFO lists them) and fails over.
 *
 * Options: --workers N (default 2), --nats-nodes N (default 1), --port P (gateway, default PORT or
 * 8080), --nats-port P (first node's client port, default free ports), --data DIR (keep the
 * JetStream store(s) there), --pin (pin each worker to one CPU with taskset when available). Other
 * environment variables pass through.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startNatsCluster, startNatsServer, type NatsServer } from "../../lib/nats/mod.ts";
import { DEFAULT_SERVER_CONFIG } from "../config/server.ts";

const ROOT = resolve(import.meta.dir, "../..");

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
}

function haveTaskset(): boolean {
  return spawnSync("taskset", ["-c", "0", "true"]).status === 0;
}

function prefixLines(name: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void {
  let buf = "";
  stream?.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      out.write(`[${name}] ${buf.slice(0, i)}\n`);
      buf = buf.slice(i + 1);
    }
  });
}

function launch(name: string, args: string[], env: Record<string, string | undefined>, onLine?: (line: string) => void): Child {
  const [cmd, ...rest] = args;
  const proc = spawn(cmd!, rest, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  prefixLines(name, proc.stdout, process.stdout);
  prefixLines(name, proc.stderr, process.stderr);
  if (onLine) proc.stdout?.on("data", (d: Buffer) => onLine(d.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { name, proc, exited };
}

async function waitFor(child: Child, marker: string, timeoutMs: number): Promise<void> {
  let seen = "";
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name} not ready after ${timeoutMs} ms`)), timeoutMs);
    const check = (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(marker)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.proc.stdout?.on("data", check);
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited with ${code} before it was ready`));
    });
  });
}

/** Null when host:port can be listened on, else the error code (EADDRINUSE, EACCES, ...). */
async function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolveCheck) => {
    const srv = createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => resolveCheck(err.code ?? err.message));
    srv.listen(port, host, () => srv.close(() => resolveCheck(null)));
  });
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      workers: { type: "string", short: "w", default: "2" },
      "nats-nodes": { type: "string", default: "1" },
      port: { type: "string" },
      "nats-port": { type: "string" },
      data: { type: "string" },
      pin: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("usage: bun run cluster -- [--workers N] [--nats-nodes N] [--port P] [--nats-port P] [--data DIR] [--pin]");
    return;
  }
  const n = Number(values.workers);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error("--workers must be an integer from 1 to 64");
  const nodes = Number(values["nats-nodes"]);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error("--nats-nodes must be an integer from 1 to 9");
  // The gateway's port, checked before anything starts: a running `bun run start` holds 8080.
  const gatewayPort = Number(values.port ?? process.env.PORT ?? DEFAULT_SERVER_CONFIG.port);
  const gatewayHost = process.env.HOST ?? DEFAULT_SERVER_CONFIG.host;
  if (!Number.isInteger(gatewayPort) || gatewayPort < 0 || gatewayPort > 65535) throw new Error("--port must be a port number");
  const problem = gatewayPort === 0 ? null : await portProblem(gatewayHost, gatewayPort);
  if (problem) {
    throw new Error(
      problem === "EADDRINUSE"
        ? `port ${gatewayPort} is already in use (is \`bun run start\` or another cluster running?); choose another with --port P`
        : `cannot listen on ${gatewayHost}:${gatewayPort} (${problem}); choose another with --port P`,
    );
  }
  const pin = values.pin && haveTaskset();
  if (values.pin && !pin) console.warn("[cluster] taskset not available: workers are not pinned");

  let storeDir: string | undefined;
  if (values.data) {
    storeDir = resolve(values.data);
    mkdirSync(storeDir, { recursive: true });
  }
  let natsNodes: readonly NatsServer[];
  let stopNats: () => Promise<unknown>;
  const replicas = Math.min(nodes, 3);
  if (nodes === 1) {
    const nats = await startNatsServer({
      ...(values["nats-port"] ? { port: Number(values["nats-port"]) } : {}),
      ...(storeDir ? { storeDir } : {}),
    });
    natsNodes = [nats];
    stopNats = () => (storeDir ? nats.stop() : nats.cleanup());
    console.log(`[cluster] nats-server ${nats.url} (JetStream store ${join(nats.storeDir, "js")})`);
  } else {
    const cluster = await startNatsCluster({
      nodes,
      ...(values["nats-port"] ? { port: Number(values["nats-port"]) } : {}),
      ...(storeDir ? { storeDir } : {}),
    });
    natsNodes = cluster.nodes;
    stopNats = () => (storeDir ? Promise.all(cluster.nodes.map((n) => n.stop())) : cluster.cleanup());
    console.log(`[cluster] ${nodes}-node NATS cluster ${cluster.urls.join(" ")} (JetStream on each; bucket and events with ${replicas} replicas)`);
  }
  const nodeUrl = (i: number) => natsNodes[i % natsNodes.length]!.url;

  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("[cluster] stopping: gateway, workers (drain), nats-server");
    const gateway = children.find((c) => c.name === "gateway");
    if (gateway && gateway.proc.exitCode === null) {
      gateway.proc.kill("SIGTERM");
      await gateway.exited;
    }
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGTERM");
    await Promise.race([Promise.all(children.map((c) => c.exited)), new Promise((r) => setTimeout(r, 35_000))]);
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await stopNats();
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  const baseEnv = { ...process.env, NATS_KV_REPLICAS: String(replicas) };
  const cores = cpus().length;
  try {
    const workers = Array.from({ length: n }, (_, i) => {
      const id = `worker-${i + 1}`;
      const cmd = pin ? ["taskset", "-c", String(i % cores), "bun", "server/compose/worker.ts"] : ["bun", "server/compose/worker.ts"];
      const child = launch(id, cmd, { ...baseEnv, NATS_URL: nodeUrl(i), WORKER_ID: id });
      children.push(child);
      return child;
    });
    await Promise.all(workers.map((w) => waitFor(w, `[worker ${w.name}] ready`, 120_000)));
    const gatewayEnv = { ...baseEnv, NATS_URL: nodeUrl(n), ...(values.port ? { PORT: values.port } : {}) };
    const gateway = launch("gateway", ["bun", "server/main.ts"], gatewayEnv);
    children.push(gateway);
    await waitFor(gateway, "ready", 60_000);
    console.log(`[cluster] up: ${nodes} NATS node(s), ${n} worker(s)${pin ? " pinned" : ""}, gateway ready. Ctrl-C stops everything.`);
  } catch (err) {
    console.error(`[cluster] ${(err as Error).message}`);
    await stopAll(1);
    return;
  }
  for (const c of children) {
    void c.exited.then((code) => {
      if (!stopping) console.error(`[cluster] ${c.name} exited unexpectedly (${code})`);
    });
  }
}

if (import.meta.main) {
  main().catch((err) => {
    console.error(`[cluster] ${(err as Error).message}`);
    process.exit(1);
  });
}
