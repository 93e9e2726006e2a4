/**
 * NATS configuration (workers, gateway client, event sink), one zod schema filled from the
 * environment by `loadNatsConfig(env)`. Errors name the variable.
 */
import { z } from "zod";
import { FaceError } from "../core/errors.ts";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
  /** NATS_KV_REPLICAS: replicas of a new bucket (1, 3 or 5 in a JetStream cluster). */
  replicas: int(1, 5).default(1),
  /** NATS_EVENTS_STREAM: the JetStream stream of recognition events. */
  eventsStream: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, - and _ only").default("FACEGATE_EVENTS"),
  /** NATS_EVENTS_MAX_AGE_S: how long events are kept (default 7 days; 0 = forever). */
  eventsMaxAgeSeconds: int(0, 10 * 365 * 86_400).default(7 * 86_400),
  /** NATS_SUBJECT_PREFIX: prefix of every subject (to run several deployments on one server). */
  subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/).default("facegate.v1"),
  /** WORKER_DRAIN_TIMEOUT_MS: how long a draining worker waits for in-flight requests. */
  drainTimeoutMs: int(0, 600_000).default(30_000),
});
export type NatsConfig = z.infer<typeof NatsConfigSchema>;
export type NatsConfigInput = z.input<typeof NatsConfigSchema>;

const ENV_NAMES: Record<keyof NatsConfig, string> = {
  servers: "NATS_URL",
  user: "NATS_USER",
  pass: "NATS_PASS",
  token: "NATS_TOKEN",
  concurrency: "WORKER_CONCURRENCY",
  workerTimeoutMs: "WORKER_TIMEOUT_MS",
  requestTimeoutMs: "NATS_REQUEST_TIMEOUT_MS",
  retries: "NATS_RETRIES",
  bucket: "NATS_KV_BUCKET",
  replicas: "NATS_KV_REPLICAS",
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

/** Connection options for @nats-io/transport-node from the config. */
export function connectionOptions(c: Pick<NatsConfig, "servers" | "user" | "pass" | "token">, name?: string) {
  return {
    servers: c.servers,
    ...(c.user ? { user: c.user } : {}),
    ...(c.pass ? { pass: c.pass } : {}),
    ...(c.token ? { token: c.token } : {}),
    ...(name ? { name } : {}),
    // Keep trying forever: workers and gateways outlive server restarts.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
}
