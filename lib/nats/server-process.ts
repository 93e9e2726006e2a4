/**
 * Runs a local `nats-server` child process (JetStream on, temporary store, free port). Used by the
 * tests, the benchmark and `bun run cluster`; production points NATS_URL at a real deployment.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Binary (default: NATS_SERVER_BIN or `nats-server` on PATH, /usr/sbin/nats-server on Debian). */
  bin?: string;
  /** Client port; a free one when omitted. */
  port?: number;
  /** JetStream store directory; a fresh temporary one (removed by cleanup) when omitted. */
  storeDir?: string;
  /** Largest message the server accepts (images travel as message payloads). Default 8 MiB. */
  maxPayload?: number;
  /** Print the server's log lines to stderr. */
  verbose?: boolean;
  /** How long to wait for "Server is ready". */
  startTimeoutMs?: number;
  /** Extra lines for the config file (e.g. a `tls { ... }` or `authorization { ... }` block). */
  extraConfig?: string;
  /** Unique server name (needed by clustered JetStream). */
  serverName?: string;
  /** Join a cluster: its name, this node's route port, and the other nodes' route URLs. */
  cluster?: { name: string; port: number; routes: string[] };
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Graceful stop (SIGTERM), waits for exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for exit. */
  kill(): Promise<void>;
  /** Stops (if running) and starts again on the same port with the same store. */
  restart(): Promise<void>;
  /** Stops and removes the temporary store directory (when this module created it). */
  cleanup(): Promise<void>;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function defaultBin(): string {
  return process.env.NATS_SERVER_BIN ?? "nats-server";
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "facegate-nats-"));
  const confPath = join(storeDir, "nats-server.conf");
  // A config file because the CLI has no flag for max_payload.
  writeFileSync(
    confPath,
    [
      `listen: "127.0.0.1:${port}"`,
      ...(options.serverName ? [`server_name: ${JSON.stringify(options.serverName)}`] : []),
      `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`,
      `jetstream { store_dir: ${JSON.stringify(join(storeDir, "js"))} }`,
      ...(options.cluster
        ? [
            `cluster {`,
            `  name: ${JSON.stringify(options.cluster.name)}`,
            `  listen: "127.0.0.1:${options.cluster.port}"`,
            `  routes: [${options.cluster.routes.map((r) => JSON.stringify(r)).join(", ")}]`,
            `}`,
          ]
        : []),
      ...(options.extraConfig ? [options.extraConfig] : []),
      "",
    ].join("\n"),
  );
  const bin = options.bin ?? defaultBin();
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const proc = spawn(bin, ["-c", confPath], { stdio: ["ignore", "ignore", "pipe"] });
    child = proc;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`nats-server did not start within ${startTimeoutMs} ms:\n${log}`));
      }, startTimeoutMs);
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        if (options.verbose) process.stderr.write(text);
        if (log.length < 20_000) log += text;
        if (log.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stderr?.on("data", onData);
      proc.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${bin}: ${err.message} (install nats-server or set NATS_SERVER_BIN)`, { cause: err }));
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code} before it was ready:\n${log}`));
      });
    });
    // Keep draining stderr so the pipe never fills.
    proc.stderr?.on("data", () => {});
  };

  const signal = async (sig: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    await exited;
  };

  await launch();

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
    async restart() {
      await signal("SIGTERM");
      await launch();
    },
    async cleanup() {
      await signal("SIGTERM");
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
