/**
 * The Bun adapter: Bun.serve over createApp, with the client address for rate limiting, a body
 * cap just above the app's own limit (so the app answers 413 in its JSON shape), WebSocket
 * support for plugins, and a graceful stop (health turns 503, in-flight requests finish).
 */
import type { Server } from "bun";
import { websocket } from "hono/bun";
import { createApp, type CreateAppOptions, type FacegateApp } from "./app.ts";
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from "./config.ts";
import { ServerMetrics } from "./metrics.ts";
import { processMetrics } from "./http/process-metrics.ts";

export interface StartServerOptions extends Omit<CreateAppOptions, "config" | "isReady" | "clientIp"> {
  config?: Partial<ServerConfig>;
  /** Ready from the start unless false (main.ts starts listening before the service has loaded). */
  ready?: boolean;
  /** Extra Bun WebSocket settings (e.g. the kiosk's maxPayloadLength). */
  websocketOptions?: { maxPayloadLength?: number; idleTimeout?: number };
}

export interface RunningServer {
  app: FacegateApp;
  server: Server<unknown>;
  /** http://host:port (127.0.0.1 when bound to all interfaces). */
  url: string;
  port: number;
  setReady(ready: boolean): void;
  /** Health turns 503, then in-flight requests finish (at most `graceMs`), then connections close. */
  stop(graceMs?: number): Promise<void>;
}

export function startServer(options: StartServerOptions): RunningServer {
  const config: ServerConfig = { ...DEFAULT_SERVER_CONFIG, ...options.config };
  let ready = options.ready ?? true;
  let stopping = false;
  const { websocketOptions, ...appOptions } = options;
  // Process metrics belong to the process that serves (not to every app a test creates).
  const metrics = options.metrics ?? new ServerMetrics();
  const processFamilies = processMetrics();
  metrics.addSource(processFamilies.source);
  const app = createApp({
    ...appOptions,
    metrics,
    config,
    isReady: () => ready && !stopping,
    clientIp: (c) => (c.env as Server<unknown> | undefined)?.requestIP?.(c.req.raw)?.address,
  });
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    fetch: app.fetch,
    websocket: { ...websocket, ...websocketOptions },
    // The app enforces maxBodyBytes itself while streaming (so 401/403/413 come in the JSON error
    // shape, before the body is read); Bun's own cap would answer first, in its own format.
    maxRequestBodySize: Math.max(config.maxBodyBytes * 4, 1024 ** 3),
    // Bun closes a connection idle this many seconds, a slow handler included: keep it above the request timeout.
    idleTimeout: Math.min(255, Math.max(10, Math.ceil(config.requestTimeoutMs / 1000) + 5)),
  });
  const port = server.port ?? config.port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host.includes(":") ? `[${config.host}]` : config.host;
  return {
    app,
    server,
    url: `http://${host}:${port}`,
    port,
    setReady(value) {
      ready = value;
    },
    async stop(graceMs = 10_000) {
      stopping = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([server.stop(false), grace]);
      clearTimeout(timer);
      await server.stop(true);
      processFamilies.stop();
    },
  };
}
