/**
 * A real nats-server for tests: free port, temporary JetStream store, `stop()`, `restart()` (same
 * port and store) and `cleanup()`.
 */
import { startNatsServer, type NatsServer, type NatsServerOptions } from "../../lib/nats/server-process.ts";
import { toolPath } from "./tools.ts";

export type { NatsServer } from "../../lib/nats/server-process.ts";
export { freePort } from "../../lib/nats/server-process.ts";

export async function startTestNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  // The binary describeWithTools(["nats-server"]) found (NATS_SERVER_BIN, PATH, or Debian's /usr/sbin).
  return startNatsServer({ verbose: process.env.NATS_VERBOSE === "1", bin: toolPath("nats-server"), ...options });
}
