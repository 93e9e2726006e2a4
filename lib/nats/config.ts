/**
 * NATS configuration (workers, gateway client, event sink), one zod schema filled from the
 * environment by `loadNatsConfig(env)`. Errors name the variable.
 */
import { accessSync, constants as fsConstants, readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator, type Authenticator, type TlsOptions } from "@nats-io/transport-node";
import { z } from "zod";
import { FaceError } from "../core/internal.ts";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Default NATS_KV_MARKER_RETENTION_MS: delete markers older than a day are purged. */
export const DEFAULT_MARKER_RETENTION_MS = 24 * 60 * 60 * 1000;
const NON_NEGATIVE = "must be a non-negative integer";

export const NatsConfigSchema = z.object({
  /** NATS_URL: one or more server URLs, comma-separated. */
  servers: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .transform((s) => (Array.isArray(s) ? s : s.split(",").map((u) => u.trim()).filter(Boolean)))
    .default(["nats://127.0.0.1:4222"]),
  /** NATS_USER / NATS_PASS / NATS_TOKEN: optional credentials. */
  user: z.string().min(1).optional(),
  pass: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  /** NATS_CREDS_FILE: a `.creds` file (user JWT + seed, decentralized auth); read at every (re)connect. */
  credsFile: z.string().min(1).optional(),
  /** NATS_NKEY_SEED_FILE: a file holding a user nkey seed (`SU…`); read at every (re)connect. */
  nkeySeedFile: z.string().min(1).optional(),
  /** NATS_TLS_CA_FILE: PEM CA bundle that signed the server's certificate (default: the system CAs). */
  tlsCaFile: z.string().min(1).optional(),
  /** NATS_TLS_CERT_FILE / NATS_TLS_KEY_FILE: client certificate and key (mutual TLS), both or neither. */
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  /**
   * NATS_TLS_REQUIRED: refuse a connection without TLS. Implied by a `tls://` URL or any NATS_TLS_*
   * file; without it TLS is still used when the server offers it.
   */
  tlsRequired: z
    .union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no"])])
    .transform((v) => v === true || v === "true" || v === "1" || v === "yes")
    .default(false),
  /**
   * NATS_CONNECT_TIMEOUT_MS: per-attempt connection timeout (TCP + TLS + CONNECT/PONG). Also what a
   * refused client certificate costs: with TLS 1.3 the client learns it only when this runs out.
   */
  connectTimeoutMs: int(100, 600_000).default(5000),
  /** WORKER_CONCURRENCY: requests a worker processes at once (the old prefetch count). */
  concurrency: int(1, 1024).default(2),
  /** WORKER_TIMEOUT_MS: a request running longer is answered with TIMEOUT. */
  workerTimeoutMs: int(100, 600_000).default(30_000),
  /** NATS_REQUEST_TIMEOUT_MS: the client's per-attempt timeout. */
  requestTimeoutMs: int(50, 600_000).default(10_000),
  /** NATS_RETRIES: client retries for idempotent operations (exponential backoff). */
  retries: int(0, 20).default(2),
  /** NATS_KV_BUCKET: the gallery's JetStream KV bucket. */
  bucket: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, - and _ only").default("facegate"),
  /** NATS_KV_REPLICAS: replicas of a new KV bucket and events stream (1, 3 or 5 in a JetStream cluster). */
  replicas: int(1, 5).default(1),
  /**
   * NATS_KV_MARKER_RETENTION_MS: delete markers older than this are purged from the bucket (0 = never).
   * A worker cut off from NATS for longer could miss a delete: keep it far above any plausible outage.
   */
  markerRetentionMs: z.coerce
    .number({ error: NON_NEGATIVE })
    .int(NON_NEGATIVE)
    .nonnegative(NON_NEGATIVE)
    .default(DEFAULT_MARKER_RETENTION_MS),
  /** NATS_IDEMPOTENCY_BUCKET: the KV bucket of writes' idempotency keys (lib/nats/idempotency.ts). */
  idempotencyBucket: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, - and _ only").default("facegate-idempotency"),
  /** NATS_IDEMPOTENCY_TTL_MS: how long a write's first answer is kept for its retries (default 24 h). */
  idempotencyTtlMs: int(1000, 30 * 86_400_000).default(86_400_000),
  /** NATS_EVENTS_STREAM: the JetStream stream of recognition events. */
  eventsStream: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, - and _ only").default("FACEGATE_EVENTS"),
  /** NATS_EVENTS_MAX_AGE_S: how long events are kept (default 7 days; 0 = forever). */
  eventsMaxAgeSeconds: int(0, 10 * 365 * 86_400).default(7 * 86_400),
  /** NATS_SUBJECT_PREFIX: prefix of every subject (to run several deployments on one server). */
  subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default("facegate.v1"),
  /** WORKER_DRAIN_TIMEOUT_MS: how long a draining worker waits for in-flight requests. */
  drainTimeoutMs: int(0, 600_000).default(30_000),
}).superRefine((c, ctx) => {
  const failed = new Set<string>();
  const issue = (field: string, message: string) => {
    failed.add(field);
    ctx.addIssue({ code: "custom", path: [field], message });
  };
  // Files are checked at start so a typo is a config error (exit 2), not an endless reconnect loop.
  for (const field of ["credsFile", "nkeySeedFile", "tlsCaFile", "tlsCertFile", "tlsKeyFile"] as const) {
    const path = c[field];
    if (path === undefined) continue;
    try {
      accessSync(path, fsConstants.R_OK);
    } catch (err) {
      issue(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined)) {
    issue(c.tlsCertFile === undefined ? "tlsCertFile" : "tlsKeyFile", "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together (both or neither)");
  }
  const methods = [
    c.credsFile && "NATS_CREDS_FILE",
    c.nkeySeedFile && "NATS_NKEY_SEED_FILE",
    c.token && "NATS_TOKEN",
    c.user && "NATS_USER",
  ].filter(Boolean);
  if (methods.length > 1 && (c.credsFile || c.nkeySeedFile)) {
    issue(c.credsFile ? "credsFile" : "nkeySeedFile", `use one authentication method, got ${methods.join(" + ")}`);
  }
  // Parse the secrets once now (the authenticators throw on malformed input) so a bad file fails at start.
  if (c.credsFile && !failed.has("credsFile")) {
    try {
      credsAuthenticator(readFileSync(c.credsFile))("probe");
    } catch (err) {
      issue("credsFile", `${c.credsFile} is not a NATS .creds file (user JWT + seed): ${(err as Error).message}`);
    }
  }
  if (c.nkeySeedFile && !failed.has("nkeySeedFile")) {
    try {
      nkeyAuthenticator(readSeed(c.nkeySeedFile))("probe");
    } catch (err) {
      issue("nkeySeedFile", `${c.nkeySeedFile} does not hold a user nkey seed (SU…): ${(err as Error).message}`);
    }
  }
});
export type NatsConfig = z.infer<typeof NatsConfigSchema>;
export type NatsConfigInput = z.input<typeof NatsConfigSchema>;

const ENV_NAMES: Record<keyof NatsConfig, string> = {
  servers: "NATS_URL",
  user: "NATS_USER",
  pass: "NATS_PASS",
  token: "NATS_TOKEN",
  credsFile: "NATS_CREDS_FILE",
  nkeySeedFile: "NATS_NKEY_SEED_FILE",
  tlsCaFile: "NATS_TLS_CA_FILE",
  tlsCertFile: "NATS_TLS_CERT_FILE",
  tlsKeyFile: "NATS_TLS_KEY_FILE",
  tlsRequired: "NATS_TLS_REQUIRED",
  connectTimeoutMs: "NATS_CONNECT_TIMEOUT_MS",
  concurrency: "WORKER_CONCURRENCY",
  workerTimeoutMs: "WORKER_TIMEOUT_MS",
  requestTimeoutMs: "NATS_REQUEST_TIMEOUT_MS",
  retries: "NATS_RETRIES",
  bucket: "NATS_KV_BUCKET",
  replicas: "NATS_KV_REPLICAS",
  markerRetentionMs: "NATS_KV_MARKER_RETENTION_MS",
  idempotencyBucket: "NATS_IDEMPOTENCY_BUCKET",
  idempotencyTtlMs: "NATS_IDEMPOTENCY_TTL_MS",
  eventsStream: "NATS_EVENTS_STREAM",
  eventsMaxAgeSeconds: "NATS_EVENTS_MAX_AGE_S",
  subjectPrefix: "NATS_SUBJECT_PREFIX",
  drainTimeoutMs: "WORKER_DRAIN_TIMEOUT_MS",
};

export function parseNatsConfig(input: Partial<NatsConfigInput>): NatsConfig {
  const parsed = NatsConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => {
    const field = i.path[0] as keyof NatsConfig | undefined;
    return `${field ? ENV_NAMES[field] : "config"}: ${i.message}`;
  });
  throw new FaceError("INVALID_ARGUMENT", `invalid NATS configuration: ${issues.join("; ")}`, { details: parsed.error.issues });
}

/** Reads the variables above; empty strings count as unset. */
export function loadNatsConfig(env: Record<string, string | undefined> = process.env): NatsConfig {
  const input: Record<string, string> = {};
  for (const [field, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v.trim() !== "") input[field] = v.trim();
  }
  return parseNatsConfig(input as Partial<NatsConfigInput>);
}

function readSeed(path: string): Uint8Array {
  return new TextEncoder().encode(readFileSync(path, "utf8").trim());
}

/** The parts of the config a connection needs. */
export type NatsConnectionConfig = Pick<NatsConfig, "servers" | "user" | "pass" | "token"> &
  Partial<Pick<NatsConfig, "credsFile" | "nkeySeedFile" | "tlsCaFile" | "tlsCertFile" | "tlsKeyFile" | "tlsRequired" | "connectTimeoutMs">>;

/** TLS options, or undefined to let the client use TLS only when the server offers it. */
export function tlsOptions(c: NatsConnectionConfig): TlsOptions | undefined {
  const wanted =
    c.tlsRequired === true ||
    c.servers.some((u) => /^tls:\/\//i.test(u)) ||
    Boolean(c.tlsCaFile || c.tlsCertFile || c.tlsKeyFile);
  if (!wanted) return undefined;
  // Paths, not contents: the transport reads them at every (re)connect, so rotated files are picked up.
  return {
    ...(c.tlsCaFile ? { caFile: c.tlsCaFile } : {}),
    ...(c.tlsCertFile ? { certFile: c.tlsCertFile } : {}),
    ...(c.tlsKeyFile ? { keyFile: c.tlsKeyFile } : {}),
  };
}

/** Authenticator for NATS_CREDS_FILE / NATS_NKEY_SEED_FILE (files re-read at every connect). */
export function fileAuthenticator(c: NatsConnectionConfig): Authenticator | undefined {
  if (c.credsFile) {
    const file = c.credsFile;
    return credsAuthenticator(() => readFileSync(file));
  }
  if (c.nkeySeedFile) {
    const file = c.nkeySeedFile;
    return nkeyAuthenticator(() => readSeed(file));
  }
  return undefined;
}

/**
 * Connection options for @nats-io/transport-node from the config. Every connection the project opens
 * (worker, gateway client, kiosk event sink) goes through here, so they all get the same TLS and auth.
 */
export function connectionOptions(c: NatsConnectionConfig, name?: string) {
  const tls = tlsOptions(c);
  const authenticator = fileAuthenticator(c);
  return {
    servers: c.servers,
    ...(c.user ? { user: c.user } : {}),
    ...(c.pass ? { pass: c.pass } : {}),
    ...(c.token ? { token: c.token } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
    ...(name ? { name } : {}),
    timeout: c.connectTimeoutMs ?? 5000,
    // Keep trying forever: workers and gateways outlive server restarts.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
}
