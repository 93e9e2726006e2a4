/**
 * `bun run start`: the gateway. Embedded by default (server/compose/embedded.ts: LocalFaceService,
 * ONNX engine + SQLite in ./data); with NATS_URL it forwards every operation to NATS workers through
 * FaceClient (server/compose/gateway.ts).
 *
 * It listens at once (health 503 until the service has loaded), exits 2 on a bad setting (one
 * line per variable), and on SIGINT/SIGTERM drains: health 503, in-flight requests finish, the
 * service closes.
 */
import { readFileSync } from "node:fs";
import { upgradeWebSocket } from "hono/bun";
import { FaceError, UnavailableError, type FaceApi } from "../lib/core/mod.ts";
import type { Plugin } from "./http/app.ts";
import { ApiKeys } from "./http/auth.ts";
import { loadEngineConfig } from "../lib/engine/mod.ts";
import { loadServiceConfig } from "../lib/service/mod.ts";
import { ConfigError, loadServerConfig, type ServerConfig } from "./config/server.ts";
import { createLogger } from "./observe/logger.ts";
import { startServer } from "./http/serve.ts";
import { TlsFilesError } from "./http/tls.ts";
import { createKioskOrExit, kioskWebSocketOptions } from "./kiosk/mod.ts";
import { pagesPlugin } from "./http/pages.ts";
import { fromKioskEvent, loadIntegrationConfig, type Integration, type IntegrationConfig } from "./integration/mod.ts";
import type { ClosableApi } from "./compose/composition.ts";
import { loadSiteConfig, SiteOutputs, type SiteConfig } from "./integration/site.ts";

// Every setting is checked before listening: the server's, the service's and the engine's.
let config: ServerConfig | undefined;
let integrationConfig: IntegrationConfig | undefined;
let siteConfig: SiteConfig | undefined;
const problems: string[] = [];
try {
  config = loadServerConfig(process.env, { readFile: (path) => readFileSync(path, "utf8") });
} catch (error) {
  if (error instanceof ConfigError) problems.push(...error.problems);
  else throw error;
}
try {
  integrationConfig = loadIntegrationConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) problems.push(...error.problems);
  else throw error;
}
try {
  siteConfig = loadSiteConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) problems.push(...error.problems);
  else throw error;
}
if (!config?.natsUrl) {
  for (const check of [() => loadServiceConfig(process.env), () => loadEngineConfig(process.env)]) {
    try {
      check();
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
}
if (problems.length > 0 || !config || !siteConfig) {
  console.error(`facegate: invalid configuration:\n  ${problems.join("\n  ")}`);
  process.exit(2);
}

const logger = createLogger(config.logLevel, (line) => process.stdout.write(`${line}\n`));
const keys = ApiKeys.fromConfig(config);

// Until the service is up, every call answers 503 UNAVAILABLE (health included).
let api: ClosableApi | undefined;
const facade = new Proxy({} as FaceApi, {
  get(_target, name) {
    return (...args: unknown[]) => {
      if (!api) return Promise.reject(new UnavailableError("the service is starting"));
      return (api as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[name](...args);
    };
  },
});

// The event log and webhooks (server/events), built once the service is up.
let integration: Integration | undefined;
const recordIdentified = {
  async publish(event: Parameters<typeof fromKioskEvent>[0]): Promise<void> {
    if (!integration) throw new UnavailableError("the event log is starting");
    await integration.recorder.record(fromKioskEvent(event));
  },
};

const plugins: Plugin[] = [];
// The kiosk WebSocket (/v1/kiosk/ws) and page (/kiosk); KIOSK_* settings, exits 2 when invalid.
// Identifications go to the event log (embedded: SQLite; NATS: the JetStream events stream).
// Its sessions call the desk's kiosk FaceApi (createApp's plugin context): the same admission
// limiter as HTTP, on the kiosk share, the deadline and the metrics.
const kiosk = createKioskOrExit({
  keys,
  upgradeWebSocket,
  logger,
  env: process.env,
  events: recordIdentified,
});
plugins.push(kiosk);
// MQTT (MQTT_URL) and the door (DOORS): kiosk signals now, recorded events through the integration.
const site = new SiteOutputs(siteConfig, { version: packageVersion(), log: (level, msg, fields) => logger[level](msg, fields) });
site.attach(kiosk);
// The kiosk page (/kiosk) and the admin console (/admin), built by `bun run build:pages`.
plugins.push(pagesPlugin());

let running: ReturnType<typeof startServer>;
try {
  running = startServer({
    api: facade,
    config,
    keys,
    logger,
    plugins,
    ready: false,
    version: packageVersion(),
    integration: () => integration,
    websocketOptions: kioskWebSocketOptions(kiosk.config),
  });
} catch (error) {
  // Unreadable or mismatched TLS files are a bad setting (exit 2, one line naming the variable).
  if (error instanceof TlsFilesError) {
    console.error(`facegate: invalid configuration:\n  ${error.message}`);
    process.exit(2);
  }
  // A second server on the same port is an operator mistake, not a crash: one clear line.
  if ((error as { code?: string }).code !== "EADDRINUSE") throw error;
  console.error(`facegate: ${config.host}:${config.port} is already in use (another facegate running?); set PORT to a free port`);
  process.exit(1);
}

if (keys.open) {
  const banner = `OPEN MODE: no API keys are configured, every caller is admin. Listening on ${config.host} only; set API_KEYS or API_KEYS_FILE before exposing this server.`;
  logger.warn(banner, { authMode: "open", host: config.host });
  if (logger.level === "silent" || logger.level === "error") console.error(`WARNING: ${banner}`);
} else {
  logger.info("API keys loaded", { keys: keys.size, authMode: "keys" });
}
logger.info("listening", {
  url: running.url,
  host: config.host,
  port: running.port,
  mode: config.natsUrl ? "nats" : "embedded",
  tls: config.tlsCertFile !== undefined,
  maxInflight: config.maxInflight,
  maxQueue: config.maxQueue,
});

try {
  // Loaded by mode: the gateway never imports the engine (onnxruntime), embedded mode never NATS.
  const composeOptions = { env: process.env, integrationConfig, logger, outputs: site.outputs() };
  const composed = config.natsUrl
    ? await (await import("./compose/gateway.ts")).composeGateway(config.natsUrl, composeOptions)
    : await (await import("./compose/embedded.ts")).composeEmbedded(composeOptions);
  api = composed.api;
  integration = composed.integration;
  running.setReady(true);
  try {
    const health = await api.healthCheck();
    logger.info("ready", {
      engine: health.engine.engine,
      backend: health.engine.backend,
      model: health.engine.modelId,
      store: health.store.kind,
      workerId: health.workerInfo.workerId,
    });
  } catch (error) {
    // Gateway mode: workers may start after the gateway; /v1/health answers 503 until one answers.
    if (!config.natsUrl) throw error;
    logger.warn("no worker answered yet; serving, /v1/health is 503 until one does", { error });
  }
} catch (error) {
  const e = error instanceof FaceError ? error : undefined;
  logger.error("startup failed", { error });
  console.error(`facegate: startup failed: ${error instanceof Error ? error.message : String(error)}`);
  await running.stop(0);
  // A bad setting (service or engine configuration) exits 2 like a bad server setting.
  process.exit(e?.code === "INVALID_ARGUMENT" ? 2 : 1);
}

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info("shutting down", { signal });
  kiosk.closeAll(); // WebSockets would otherwise hold the drain open until its grace period ends
  integration?.endStreams(); // so would live event streams
  await running.stop(10_000);
  await integration?.close().catch((error: unknown) => logger.warn("event log close failed", { error }));
  await api?.close().catch((error: unknown) => logger.warn("service close failed", { error }));
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
// SIGHUP: read TLS_CERT_FILE / TLS_KEY_FILE again (a renewed certificate) without a restart.
process.on("SIGHUP", () => {
  const result = running.reloadTls();
  if (result.outcome === "reloaded") logger.info("tls: certificate reloaded (SIGHUP)", { certificate: result.certificate });
  else if (result.outcome === "unchanged") logger.info("tls: SIGHUP, certificate files unchanged");
  else logger.warn("tls: reload failed, still serving the previous certificate", { error: result.error });
});
process.on("SIGTERM", () => void shutdown("SIGTERM"));
// SIGUSR2: a full garbage collection (memory measurements, e.g. `bun run fuzz`, compare like with like).
process.on("SIGUSR2", () => Bun.gc(true));

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}
