/** The HTTP server's public API: the app factory, the Bun adapter, auth, configuration, logging. */
export { createApp, type AppEnv, type CreateAppOptions, type FacegateApp, type Plugin, type PluginContext } from "./http/app.ts";
export { startServer, type RunningServer, type StartServerOptions } from "./http/serve.ts";
export { ApiKeys, OPEN_PRINCIPAL, type Principal, type Scope } from "./http/auth.ts";
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
} from "./config/server.ts";
export { createLogger, silentLogger, type Logger, type LogFields } from "./observe/logger.ts";
export { ServerMetrics, type MetricFamily, type MetricsRegistry, type MetricsSource } from "./observe/metrics.ts";
export { AdmissionLimiter, RateLimiter, withDeadline, type AdmissionSnapshot, type Release } from "./desk/limits.ts";
export { buildOpenApi } from "./http/openapi.ts";
export { buildRoutes, bestRecognition, type AnyRoute } from "./http/routes.ts";
export * as wire from "./http/wire.ts";
export { HttpFaceClient, type HttpFaceClientOptions } from "./http/client.ts";
