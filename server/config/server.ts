/**
 * Server configuration from the environment, validated by zod. Each bad value produces one line
 * naming the variable; `loadServerConfig` throws a ConfigError carrying all of them and main.ts
 * exits with code 2. Runtime-free (no Bun APIs): the caller passes the environment and reads files.
 *
 * `.env`: Bun loads `.env`, `.env.<NODE_ENV>` and `.env.local` from the working directory into
 * `process.env` before any code runs, so nothing here parses it (see docs/server.md).
 */
import { z } from "zod";
import { parseTrustProxy } from "./trust-proxy.ts";

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The scopes of server/auth.ts, each including the ones before it. */
export const KeyScopeSchema = z.enum(["recognize", "enroll", "manage", "admin"]);
const CompanyOrAll = z.string().min(1).max(128);

/**
 * `metrics`: reads /metrics and nothing else (a Prometheus scraper's key); not one of the ranked
 * scopes above, and only on every company ("*": the metrics are the whole server's). Admin includes it.
 */
export const GrantScopeSchema = z.union([KeyScopeSchema, z.literal("metrics")]);

/** `{"companies": ["acme"], "scopes": ["recognize"]}`: the extended form of one key. */
export const KeyGrantSchema = z
  .object({
    companies: z.array(CompanyOrAll).min(1, "list at least one company or \"*\""),
    scopes: z.array(GrantScopeSchema).min(1, "list at least one scope: recognize, enroll, manage, admin or metrics"),
  })
  .strict()
  .refine((g) => !g.scopes.includes("metrics") || g.companies.includes("*"), {
    message: 'the metrics scope is for the whole server: give it on companies ["*"]',
    path: ["scopes"],
  });
export type KeyGrant = z.infer<typeof KeyGrantSchema>;

/**
 * `{"<key>": ["*"]}` for admin, `{"<key>": ["acme", "beta"]}` for every operation on those
 * companies (the original format), or `{"<key>": {"companies": ["acme"], "scopes": ["recognize"]}}`.
 */
export const ApiKeysMapSchema = z.record(
  z.string().min(8, "API keys must be at least 8 characters").max(512),
  z.union([z.array(CompanyOrAll).min(1, "each key needs at least one company or \"*\""), KeyGrantSchema]),
);
export type ApiKeysMap = z.infer<typeof ApiKeysMapSchema>;

export const AuthModeSchema = z.enum(["keys", "open"]);
export type AuthMode = z.infer<typeof AuthModeSchema>;

export const ServerConfigSchema = z.object({
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1),
  /** "open": no keys required (local development only); "keys": X-API-Key required. */
  authMode: AuthModeSchema,
  apiKeys: ApiKeysMapSchema,
  maxBodyBytes: z.number().int().positive(),
  /** Requests per minute per key (per client IP in open mode); 0 disables the limit. */
  rateLimitPerMinute: z.number().int().nonnegative(),
  /** Token-bucket capacity: requests a key may send at once before the steady rate applies (capped at the per-minute rate). */
  rateLimitBurst: z.number().int().positive(),
  /** Bytes of request bodies being read and held at once, all requests together (reserved before reading). */
  bodyBudgetBytes: z.number().int().positive(),
  /** Failed keys per client address before back-off (429 + Retry-After, doubling, at most 5 min); 0 disables. */
  authFailLimit: z.number().int().nonnegative(),
  /** Non-admin keys may not ask for a recognition threshold below this (403). */
  thresholdFloor: z.number().min(-1).max(1),
  /** Host header allow-list (DNS rebinding); empty: in open mode localhost and IP literals only, with keys no check. */
  allowedHosts: z.array(z.string().min(1)),
  /** Allowed CORS origins; empty: no CORS headers; ["*"]: any origin. */
  corsOrigins: z.array(z.string().min(1)),
  /** Per request; 0 disables. Expired requests get 503 TIMEOUT. */
  requestTimeoutMs: z.number().int().nonnegative(),
  logLevel: z.enum(LOG_LEVELS),
  /** Gateway mode: forward every operation to NATS workers instead of the embedded service. */
  natsUrl: z.string().min(1).optional(),
  /** Max pairs in one POST /v1/verify/batch. */
  maxBatchPairs: z.number().int().positive(),
  /** Engine-bound requests running at once (recognize, detect, embed, verify, enroll); 0 disables admission control. */
  maxInflight: z.number().int().nonnegative(),
  /** Engine-bound requests waiting for a slot; beyond it 503 UNAVAILABLE with Retry-After. */
  maxQueue: z.number().int().nonnegative(),
  /** TLS_CERT_FILE / TLS_KEY_FILE: HTTPS (and wss for the kiosk) served by Bun; both or neither. Reloaded on SIGHUP or change. */
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  /**
   * TRUST_PROXY: which hops' X-Forwarded-For the per-address limits believe: "" none (default), a hop
   * count, or the proxies' addresses / CIDR ranges, comma-separated (server/http/client-address.ts).
   */
  trustProxy: z.string(),
  /**
   * KIOSK_SHARE: kiosk frames start only while fewer than this part of MAX_INFLIGHT (at least one
   * slot) is in flight and no request waits; otherwise they are shed (server/desk).
   */
  kioskShare: z.number().min(0).max(1),
});
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/**
 * Cores this process may use (Bun and Node 21+ expose navigator.hardwareConcurrency; 2 otherwise).
 * Read here rather than from node:os so the module stays runtime-free.
 */
export function availableCores(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : 2;
}

/**
 * Default MAX_INFLIGHT, embedded mode: one per core. Recognition is CPU-bound (one ONNX thread per
 * call) and the slot is taken after the body is read, so it covers CPU work only: one per core
 * keeps every core busy, more only stretch each request. Measured on 2 cores, 16 clients
 * (docs/server.md): 2 in flight gave the same throughput as 4 with half the service time
 * (40 vs 87 ms) and a lower p99.
 */
export const defaultMaxInflight = (cores = availableCores()): number => Math.max(1, cores);
/**
 * Default MAX_INFLIGHT in gateway mode (NATS_URL): the work runs on the workers, which bound
 * their own concurrency and backlog; the gateway only bounds what it holds (bodies, sockets).
 */
export const GATEWAY_MAX_INFLIGHT = 64;

export const DEFAULT_SERVER_CONFIG: ServerConfig = {
  port: 8080,
  host: "127.0.0.1",
  authMode: "open",
  apiKeys: {},
  maxBodyBytes: 10 * 1024 * 1024,
  rateLimitPerMinute: 1200,
  rateLimitBurst: 240,
  bodyBudgetBytes: 64 * 1024 * 1024,
  // A developer's typos never reach 30; a guesser gets 30 tries, then waits doubling up to 5 min.
  authFailLimit: 30,
  thresholdFloor: 0.3,
  allowedHosts: [],
  corsOrigins: [],
  requestTimeoutMs: 30_000,
  logLevel: "info",
  maxBatchPairs: 16,
  maxInflight: defaultMaxInflight(),
  maxQueue: 32,
  trustProxy: "",
  kioskShare: 0.5,
};

/** Every bad variable, one message each. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  /** Reads API_KEYS_FILE; injected so this module stays runtime-free. */
  readFile?: (path: string) => string;
}

type Env = Record<string, string | undefined>;

const KEYS_FORMAT = 'expected {"<key>": ["*"]}, {"<key>": ["acme", "beta"]} or {"<key>": {"companies": ["acme"], "scopes": ["recognize"]}}';

/** Builds the configuration; throws ConfigError listing every bad variable. */
export function loadServerConfig(env: Env, options: LoadConfigOptions = {}): ServerConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const bytes = (name: string, fallback: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = parseBytes(raw);
    if (value === undefined || value <= 0) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected a positive size in bytes (e.g. 10485760, 10mb, 512kb)`);
      return fallback;
    }
    return value;
  };

  // API keys: inline JSON or a file with the same JSON (not both).
  let apiKeys: ApiKeysMap = {};
  const inline = get("API_KEYS");
  const file = get("API_KEYS_FILE");
  if (inline !== undefined && file !== undefined) {
    problems.push("API_KEYS and API_KEYS_FILE are both set: use one");
  } else if (inline !== undefined || file !== undefined) {
    const name = inline !== undefined ? "API_KEYS" : "API_KEYS_FILE";
    let text = inline;
    if (file !== undefined) {
      try {
        if (!options.readFile) throw new Error("no file reader");
        text = options.readFile(file);
      } catch (cause) {
        problems.push(`API_KEYS_FILE=${JSON.stringify(file)}: cannot read it (${(cause as Error).message})`);
      }
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        problems.push(`${name}: not valid JSON; ${KEYS_FORMAT}`);
      }
      if (json !== undefined) {
        const parsed = ApiKeysMapSchema.safeParse(json);
        if (parsed.success) apiKeys = parsed.data;
        else problems.push(`${name}: ${describeKeyIssues(json, parsed.error)}; ${KEYS_FORMAT}`);
      }
    }
  }
  const haveKeys = Object.keys(apiKeys).length > 0;

  // AUTH_MODE: "keys" needs keys; "open" with keys is refused (ambiguous); default follows the keys.
  let authMode: AuthMode = haveKeys ? "keys" : "open";
  const mode = get("AUTH_MODE");
  if (mode !== undefined) {
    const parsed = AuthModeSchema.safeParse(mode.toLowerCase());
    if (!parsed.success) problems.push(`AUTH_MODE=${JSON.stringify(mode)}: expected "keys" or "open"`);
    else if (parsed.data === "keys" && !haveKeys && inline === undefined && file === undefined) {
      problems.push("AUTH_MODE=keys but no API_KEYS or API_KEYS_FILE is set");
    } else if (parsed.data === "open" && haveKeys) {
      problems.push("AUTH_MODE=open but API keys are configured: unset AUTH_MODE or the keys");
    } else authMode = parsed.data;
  }

  const logLevel = get("LOG_LEVEL")?.toLowerCase() ?? DEFAULT_SERVER_CONFIG.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(get("LOG_LEVEL"))}: expected one of ${LOG_LEVELS.join(", ")}`);
  }

  const corsOrigins = (get("CORS_ORIGINS") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS: ${JSON.stringify(origin)} is not "*" or an origin like https://app.example.com`);
    }
  }

  const allowedHosts = (get("ALLOWED_HOSTS") ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  for (const host of allowedHosts) {
    if (!/^(\*\.)?[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/.test(host)) {
      problems.push(`ALLOWED_HOSTS: ${JSON.stringify(host)} is not a host name (e.g. kiosk.example.com, *.example.com, 10.0.0.5:8080)`);
    }
  }

  const floorRaw = get("THRESHOLD_FLOOR");
  let thresholdFloor = DEFAULT_SERVER_CONFIG.thresholdFloor;
  if (floorRaw !== undefined) {
    const value = Number(floorRaw);
    if (!Number.isFinite(value) || value < -1 || value > 1) problems.push(`THRESHOLD_FLOOR=${JSON.stringify(floorRaw)}: expected a number from -1 to 1`);
    else thresholdFloor = value;
  }

  const shareRaw = get("KIOSK_SHARE");
  let kioskShare = DEFAULT_SERVER_CONFIG.kioskShare;
  if (shareRaw !== undefined) {
    const value = Number(shareRaw);
    if (!Number.isFinite(value) || value < 0 || value > 1) problems.push(`KIOSK_SHARE=${JSON.stringify(shareRaw)}: expected a number from 0 to 1 (the part of MAX_INFLIGHT kiosk frames may fill)`);
    else kioskShare = value;
  }

  const natsUrl = get("NATS_URL");
  if (natsUrl !== undefined) {
    for (const server of natsUrl.split(",")) {
      if (!/^((nats|tls|ws|wss):\/\/)?[^\s/]+(:\d+)?$/.test(server.trim())) {
        problems.push(`NATS_URL: ${JSON.stringify(server)} is not a NATS server address (e.g. nats://127.0.0.1:4222)`);
      }
    }
  }

  const tlsCertFile = get("TLS_CERT_FILE");
  const tlsKeyFile = get("TLS_KEY_FILE");
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    problems.push(`${tlsCertFile === undefined ? "TLS_KEY_FILE" : "TLS_CERT_FILE"} is set without ${tlsCertFile === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE"}: HTTPS needs both (or neither)`);
  }

  const trustProxy = get("TRUST_PROXY") ?? "";
  try {
    parseTrustProxy(trustProxy);
  } catch (error) {
    problems.push(`TRUST_PROXY=${JSON.stringify(trustProxy)}: ${(error as Error).message} (e.g. 1, or 127.0.0.1,10.0.0.0/8)`);
  }

  const maxBodyBytes = bytes("MAX_BODY_BYTES", DEFAULT_SERVER_CONFIG.maxBodyBytes);
  const config: ServerConfig = {
    port: int("PORT", DEFAULT_SERVER_CONFIG.port, 0, 65535),
    host: get("HOST") ?? (authMode === "open" ? "127.0.0.1" : "0.0.0.0"),
    authMode,
    apiKeys,
    maxBodyBytes,
    rateLimitPerMinute: int("RATE_LIMIT_PER_MINUTE", DEFAULT_SERVER_CONFIG.rateLimitPerMinute, 0, 10_000_000),
    rateLimitBurst: int("RATE_LIMIT_BURST", DEFAULT_SERVER_CONFIG.rateLimitBurst, 1, 10_000_000),
    // Default: 64 MiB, or room for 4 bodies of the maximum size when MAX_BODY_BYTES is larger.
    bodyBudgetBytes: bytes("BODY_BUDGET_BYTES", Math.max(DEFAULT_SERVER_CONFIG.bodyBudgetBytes, 4 * maxBodyBytes)),
    authFailLimit: int("AUTH_FAIL_LIMIT", DEFAULT_SERVER_CONFIG.authFailLimit, 0, 1_000_000),
    thresholdFloor,
    allowedHosts,
    corsOrigins,
    requestTimeoutMs: int("REQUEST_TIMEOUT_MS", DEFAULT_SERVER_CONFIG.requestTimeoutMs, 0, 3_600_000),
    logLevel: logLevel as LogLevel,
    natsUrl,
    maxBatchPairs: int("MAX_BATCH_PAIRS", DEFAULT_SERVER_CONFIG.maxBatchPairs, 1, 1000),
    maxInflight: int("MAX_INFLIGHT", natsUrl !== undefined ? GATEWAY_MAX_INFLIGHT : DEFAULT_SERVER_CONFIG.maxInflight, 0, 100_000),
    maxQueue: int("MAX_QUEUE", DEFAULT_SERVER_CONFIG.maxQueue, 0, 100_000),
    ...(tlsCertFile !== undefined && tlsKeyFile !== undefined ? { tlsCertFile, tlsKeyFile } : {}),
    trustProxy,
    kioskShare,
  };
  if (config.maxInflight === 0 && get("MAX_QUEUE") !== undefined && get("MAX_INFLIGHT") !== undefined) {
    problems.push("MAX_QUEUE is set but MAX_INFLIGHT=0 turns admission control off: unset one of them");
  }
  if (config.bodyBudgetBytes < config.maxBodyBytes) {
    problems.push(`BODY_BUDGET_BYTES (${config.bodyBudgetBytes}) is below MAX_BODY_BYTES (${config.maxBodyBytes}): no request of the maximum size could ever be read`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return ServerConfigSchema.parse(config);
}

/** zod's issue paths start with the key itself: name keys by position instead, never print them. */
function describeKeyIssues(json: unknown, error: z.ZodError): string {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "must be a JSON object";
  const keys = Object.keys(json);
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const [key, ...rest] = issue.path;
      const index = keys.indexOf(String(key));
      const where = index >= 0 ? `key #${index + 1}${rest.length ? `[${rest.join(".")}]` : ""}` : "(root)";
      const message =
        issue.code === "invalid_key" ? "API keys must be 8 to 512 characters" : issue.message;
      return `${where}: ${message}`;
    })
    .join("; ");
}

/** "10485760", "10mb", "512 KB", "1.5MiB" → bytes (binary multiples). */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? "b").toLowerCase()[0];
  const factor = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  const value = Math.floor(Number(match[1]) * factor);
  return Number.isSafeInteger(value) ? value : undefined;
}
