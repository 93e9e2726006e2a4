/** The HTTP server's public API: the app factory, the Bun adapter, auth, configuration, logging. */
export { createApp, type AppEnv, type CreateAppOptions, type FacegateApp, type Plugin, type PluginContext } from "./app.ts";
export { startServer, type RunningServer, type StartServerOptions } from "./serve.ts";
export { ApiKeys, OPEN_PRINCIPAL, type Principal, type Scope } from "./auth.ts";
export {
  ApiKeysMapSchema,
  ConfigError,
  DEFAULT_SERVER_CONFIG,
  defaultMaxInflight,
  loadServerConfig,
  parseBytes,
  ServerConfigSchema,
  type ApiKeysMap,
  type ServerConfig,
} from "./config.ts";
export { createLogger, silentLogger, type Logger, type LogFields } from "./logger.ts";
export { ServerMetrics, type MetricFamily, type MetricsRegistry, type MetricsSource } from "./metrics.ts";
export { AdmissionLimiter, RateLimiter, withDeadline, type AdmissionSnapshot, type Release } from "./limits.ts";
export { buildOpenApi } from "./openapi.ts";
export { buildRoutes, bestRecognition, type AnyRoute } from "./routes.ts";
export * as wire from "./wire.ts";
export { HttpFaceClient, type HttpFaceClientOptions } from "./client.ts";
