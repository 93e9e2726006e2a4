/**
 * A real nats-server for tests: free port, temporary JetStream store, `stop()`, `restart()` (same
 * port and store) and `cleanup()`.
 */
import { afterAll, beforeAll } from "bun:test";
import { startNatsServer, type NatsServer, type NatsServerOptions } from "../../lib/nats/mod.ts";
import { toolPath } from "./tools.ts";

export type { NatsServer } from "../../lib/nats/mod.ts";
export { freePort } from "../../lib/nats/mod.ts";

export async function startTestNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  // The binary describeWithTools(["nats-server"]) found (NATS_SERVER_BIN, PATH, or Debian's /usr/sbin).
  return startNatsServer({ verbose: process.env.NATS_VERBOSE === "1", bin: toolPath("nats-server"), ...options });
}

export interface UsedNatsServer {
  /** The running server (available inside tests and hooks, after the suite's beforeAll). */
  readonly server: NatsServer;
  readonly url: string;
  /** Closes `thing` at the end of the suite, before the server stops (last tracked, first closed). */
  track<T extends { close(): Promise<unknown> | unknown }>(thing: T): T;
}

/**
 * One nats-server for a describe block: started in beforeAll, and in afterAll everything tracked
 * is closed (newest first) before the server stops and its store is removed. Replaces the
 * start/cleanup boilerplate each NATS test file had.
 */
export function useNatsServer(options: NatsServerOptions = {}): UsedNatsServer {
  let server: NatsServer | undefined;
  const tracked: Array<{ close(): Promise<unknown> | unknown }> = [];
  beforeAll(async () => {
    server = await startTestNatsServer(options);
  }, 30_000);
  afterAll(async () => {
    for (const t of tracked.splice(0).reverse()) await Promise.resolve(t.close()).catch(() => undefined);
    await server?.cleanup();
  }, 60_000);
  return {
    get server() {
      if (!server) throw new Error("useNatsServer: the server is not started yet (use it inside tests or hooks)");
      return server;
    },
    get url() {
      return this.server.url;
    },
    track(thing) {
      tracked.push(thing);
      return thing;
    },
  };
}
