/**
 * A local N-node nats-server cluster (routes between every node, JetStream on each), for
 * `bun run cluster -- --nats-nodes 3` and the cluster tests. Each node is a `startNatsServer`
 * child process with its own store, so a node can be SIGKILLed and restarted on the same port and
 * store (it then catches up from the others: JetStream replication). Production runs its own cluster.
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, startNatsServer, type NatsServer, type NatsServerOptions } from "./server-process.ts";

export interface NatsClusterOptions extends Omit<NatsServerOptions, "port" | "storeDir" | "serverName" | "cluster"> {
  /** Number of nodes (default 3: the smallest cluster that survives the loss of one). */
  nodes?: number;
  /** Cluster name (default "facegate"). */
  name?: string;
  /** Keep each node's store under DIR/n<i> (default: temporary directories, removed by cleanup). */
  storeDir?: string;
  /** First client port; node i listens on port + i (default: free ports). */
  port?: number;
  /** How long to wait for JetStream to elect its meta leader after the nodes started (default 30 s). */
  readyTimeoutMs?: number;
}

export interface NatsCluster {
  readonly nodes: readonly NatsServer[];
  /** Every node's client URL, node order. */
  readonly urls: string[];
  /** Server names, node order (n1, n2, ...): the names JetStream reports in stream cluster info. */
  readonly names: string[];
  /** Waits until JetStream answers API requests through `url` (default: the first running node). */
  waitForJetStream(timeoutMs?: number, url?: string): Promise<void>;
  /** Stops every node (SIGTERM) and removes temporary stores. */
  cleanup(): Promise<void>;
}

export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const n = options.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error("a local NATS cluster has 1 to 9 nodes");
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) {
    clientPorts.push(options.port !== undefined ? options.port + i : await freePort());
    routePorts.push(await freePort());
  }
  const names = clientPorts.map((_, i) => `n${i + 1}`);
  const { nodes: _n, name: _name, storeDir, port: _p, readyTimeoutMs, ...serverOptions } = options;
  const nodes: NatsServer[] = [];
  try {
    // All at once: each node keeps retrying its routes until the others listen.
    nodes.push(
      ...(await Promise.all(
        clientPorts.map((port, i) => {
          const dir = storeDir ? join(storeDir, names[i]!) : undefined;
          if (dir) mkdirSync(dir, { recursive: true });
          return startNatsServer({
            ...serverOptions,
            port,
            ...(dir ? { storeDir: dir } : {}),
            serverName: names[i]!,
            ...(n > 1
              ? {
                  cluster: {
                    name: options.name ?? "facegate",
                    port: routePorts[i]!,
                    routes: routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`),
                  },
                }
              : {}),
          });
        }),
      )),
    );
  } catch (err) {
    await Promise.all(nodes.map((s) => s.cleanup()));
    throw err;
  }
  const urls = nodes.map((s) => s.url);
  const cluster: NatsCluster = {
    nodes,
    urls,
    names,
    async waitForJetStream(timeoutMs = readyTimeoutMs ?? 30_000, url?: string) {
      const target = url ?? nodes.find((s) => s.running)?.url ?? urls[0]!;
      const nc = await connect({ servers: target });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 1000, checkAPI: false });
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          try {
            await jsm.getAccountInfo();
            return;
          } catch (err) {
            if (Date.now() > deadline) throw new Error(`JetStream not ready on ${target} after ${timeoutMs} ms: ${(err as Error).message}`);
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      } finally {
        await nc.close();
      }
    },
    async cleanup() {
      await Promise.all(nodes.map((s) => s.cleanup()));
    },
  };
  try {
    await cluster.waitForJetStream();
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
  return cluster;
}
