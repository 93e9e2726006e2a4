/**
 * The Bun adapter: Bun.serve over createApp, with the client address for rate limiting, a body
 * cap just above the app's own limit (so the app answers 413 in its JSON shape), WebSocket
 * support for plugins, HTTPS when TLS_CERT_FILE / TLS_KEY_FILE are set (reloaded on change, see
 * reloadTls), and a graceful stop (health turns 503, in-flight requests finish).
 */
import type { Server } from "bun";
import { websocket } from "hono/bun";
import { createApp, type CreateAppOptions, type FacegateApp } from "./app.ts";
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from "../config/server.ts";
import { ServerMetrics } from "../observe/metrics.ts";
import { processMetrics } from "./process-metrics.ts";
import { loadTlsCredentials, watchTlsFiles, type TlsCredentials } from "./tls.ts";
import { clientAddress } from "./client-address.ts";
import { parseTrustProxy } from "../config/trust-proxy.ts";

export interface StartServerOptions extends Omit<CreateAppOptions, "config" | "isReady" | "clientIp"> {
  config?: Partial<ServerConfig>;
  /** Ready from the start unless false (main.ts starts listening before the service has loaded). */
  ready?: boolean;
  /** Extra Bun WebSocket settings (e.g. the kiosk's maxPayloadLength). */
  websocketOptions?: { maxPayloadLength?: number; idleTimeout?: number };
  /** With TLS: reload when the certificate or key file changes (default true; SIGHUP is main.ts's). */
  watchTls?: boolean;
}

/** What a TLS reload did: the new certificate served, unchanged files, or the error (the old certificate stays). */
export type TlsReload =
  | { outcome: "reloaded"; certificate: TlsCredentials["summary"] }
  | { outcome: "unchanged" }
  | { outcome: "failed"; error: string };

export interface RunningServer {
  app: FacegateApp;
  /** The listening Bun server (a TLS reload replaces it: read it again after one). */
  readonly server: Server<unknown>;
  /** http(s)://host:port (127.0.0.1 when bound to all interfaces). */
  url: string;
  port: number;
  setReady(ready: boolean): void;
  /**
   * Reads TLS_CERT_FILE / TLS_KEY_FILE again and serves the new pair to new connections; open
   * connections (kiosk WebSockets, requests in flight) stay on the old one until they end.
   */
  reloadTls(): TlsReload;
  /** Health turns 503, then in-flight requests finish (at most `graceMs`), then connections close. */
  stop(graceMs?: number): Promise<void>;
}

export function startServer(options: StartServerOptions): RunningServer {
  const config: ServerConfig = { ...DEFAULT_SERVER_CONFIG, ...options.config };
  let ready = options.ready ?? true;
  let stopping = false;
  const { websocketOptions, watchTls, ...appOptions } = options;
  // Process metrics belong to the process that serves (not to every app a test creates).
  const metrics = options.metrics ?? new ServerMetrics();
  const processFamilies = processMetrics();
  metrics.addSource(processFamilies.source);
  const trust = parseTrustProxy(config.trustProxy);
  const app = createApp({
    ...appOptions,
    metrics,
    config,
    isReady: () => ready && !stopping,
    // The socket's peer, or the client behind trusted proxies (TRUST_PROXY, X-Forwarded-For).
    clientIp: (c) => clientAddress((c.env as Server<unknown> | undefined)?.requestIP?.(c.req.raw)?.address, c.req.header("x-forwarded-for"), trust),
  });
  const tlsFiles = config.tlsCertFile && config.tlsKeyFile ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile } : undefined;
  // Throws TlsFilesError (a config error: main.ts exits 2) before anything listens.
  let credentials = tlsFiles ? loadTlsCredentials(tlsFiles) : undefined;
  const listen = (port: number) =>
    Bun.serve({
      port,
      hostname: config.host,
      fetch: app.fetch,
      websocket: { ...websocket, ...websocketOptions },
      ...(credentials ? { tls: { cert: credentials.cert, key: credentials.key } } : {}),
      // The app enforces maxBodyBytes itself while streaming (so 401/403/413 come in the JSON error
      // shape, before the body is read); Bun's own cap would answer first, in its own format.
      maxRequestBodySize: Math.max(config.maxBodyBytes * 4, 1024 ** 3),
      // Bun closes a connection idle this many seconds, a slow handler included: keep it above the request timeout.
      idleTimeout: Math.min(255, Math.max(10, Math.ceil(config.requestTimeoutMs / 1000) + 5)),
    });
  let server = listen(config.port);
  // Servers replaced by a TLS reload, still holding the connections they accepted.
  const retired = new Set<Server<unknown>>();
  const port = server.port ?? config.port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host.includes(":") ? `[${config.host}]` : config.host;

  const reloadTls = (): TlsReload => {
    if (!tlsFiles || stopping) return { outcome: "failed", error: tlsFiles ? "the server is stopping" : "TLS is not configured (TLS_CERT_FILE, TLS_KEY_FILE)" };
    let next: TlsCredentials;
    try {
      next = loadTlsCredentials(tlsFiles);
    } catch (error) {
      return { outcome: "failed", error: (error as Error).message };
    }
    if (next.digest === credentials?.digest) return { outcome: "unchanged" };
    // Bun's server.reload() ignores `tls` (oven-sh/bun#43815) and two listeners sharing the port
    // with reusePort stop accepting when one closes (measured, Bun 1.4.5): so the listening socket is
    // closed and opened again with the new pair in the same tick. stop(false) leaves the accepted
    // connections (kiosk WebSockets, requests in flight) on the old server until they end.
    const previous = credentials;
    credentials = next;
    const old = server;
    old.stop(false);
    try {
      server = listen(port);
    } catch (error) {
      credentials = previous;
      server = listen(port); // the old pair again; if this throws too, the port was taken meanwhile
      return { outcome: "failed", error: `could not listen again with the new certificate: ${(error as Error).message}` };
    }
    retired.add(old);
    // Forget a retired server once its last connection is gone.
    const sweep = setInterval(() => {
      if (old.pendingRequests === 0 && old.pendingWebSockets === 0) {
        retired.delete(old);
        clearInterval(sweep);
        void old.stop(true);
      }
    }, 1000);
    sweep.unref?.();
    return { outcome: "reloaded", certificate: next.summary };
  };

  const logger = options.logger;
  const unwatch =
    tlsFiles && watchTls !== false
      ? watchTlsFiles(tlsFiles, () => {
          const result = reloadTls();
          if (result.outcome === "reloaded") logger?.info("tls: certificate reloaded (files changed)", { certificate: result.certificate });
          else if (result.outcome === "failed") logger?.warn("tls: reload failed, still serving the previous certificate", { error: result.error });
        })
      : () => {};

  return {
    app,
    get server() {
      return server;
    },
    url: `${credentials ? "https" : "http"}://${host}:${port}`,
    port,
    setReady(value) {
      ready = value;
    },
    reloadTls,
    async stop(graceMs = 10_000) {
      stopping = true;
      unwatch();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      const all = [server, ...retired];
      await Promise.race([Promise.all(all.map((s) => s.stop(false))), grace]);
      clearTimeout(timer);
      await Promise.all(all.map((s) => s.stop(true)));
      processFamilies.stop();
    },
  };
}
