/**
 * Settings of the event log and the webhook deliverer (validated by zod, one line per bad variable
 * like the server's own settings).
 */
import { z } from "zod";
import { ConfigError } from "../config/server.ts";
import { parseAllowedHosts } from "./webhooks/destinations.ts";

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "expected a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const EnvSchema = z.object({
  EVENTS_RETENTION_DAYS: int(0, 36_500).optional(),
  WEBHOOK_RETRY_BASE_MS: int(10, 3_600_000).optional(),
  WEBHOOK_RETRY_MAX_MS: int(10, 86_400_000).optional(),
  WEBHOOK_RETRY_HOURS: int(0, 24 * 30).optional(),
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).optional(),
  WEBHOOK_CONCURRENCY: int(1, 64).optional(),
  WEBHOOK_ALLOW_PRIVATE: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["true", "false", "1", "0", "yes", "no"], { error: "expected true or false" }))
    .transform((v) => v === "true" || v === "1" || v === "yes")
    .optional(),
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean))
    .superRefine((entries, ctx) => {
      try {
        parseAllowedHosts(entries);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    })
    .optional(),
});

export interface IntegrationConfig {
  /** Events older than this are deleted (0 = kept forever). */
  retentionDays: number;
  /** First retry delay; doubled per attempt up to retryMaxMs, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** An event not delivered this long after it was recorded becomes a dead letter (0: one attempt). */
  retryHours: number;
  timeoutMs: number;
  concurrency: number;
  /** Webhooks may POST to loopback, private, link-local and metadata addresses (off: refused). */
  webhookAllowPrivate: boolean;
  /** Host names (`*.` for subdomains), addresses or CIDR ranges webhooks may reach even when internal. */
  webhookAllowedHosts: string[];
}

export const DEFAULT_INTEGRATION_CONFIG: IntegrationConfig = {
  retentionDays: 90,
  retryBaseMs: 1000,
  retryMaxMs: 3_600_000,
  retryHours: 24,
  timeoutMs: 10_000,
  concurrency: 4,
  webhookAllowPrivate: false,
  webhookAllowedHosts: [],
};

export function loadIntegrationConfig(env: Record<string, string | undefined>): IntegrationConfig {
  const picked = Object.fromEntries(Object.keys(EnvSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === "" ? [] : [[k, env[k]]])));
  const parsed = EnvSchema.safeParse(picked);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0])}=${JSON.stringify(picked[String(i.path[0])])}: ${i.message}`));
  }
  const e = parsed.data;
  const d = DEFAULT_INTEGRATION_CONFIG;
  return {
    retentionDays: e.EVENTS_RETENTION_DAYS ?? d.retentionDays,
    retryBaseMs: e.WEBHOOK_RETRY_BASE_MS ?? d.retryBaseMs,
    retryMaxMs: e.WEBHOOK_RETRY_MAX_MS ?? d.retryMaxMs,
    retryHours: e.WEBHOOK_RETRY_HOURS ?? d.retryHours,
    timeoutMs: e.WEBHOOK_TIMEOUT_MS ?? d.timeoutMs,
    concurrency: e.WEBHOOK_CONCURRENCY ?? d.concurrency,
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE ?? d.webhookAllowPrivate,
    webhookAllowedHosts: e.WEBHOOK_ALLOWED_HOSTS ?? d.webhookAllowedHosts,
  };
}
