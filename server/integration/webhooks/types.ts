/** What the webhook routes and the integration need from a webhook implementation (SQLite outbox or JetStream). */
import type { WebhookOutbox } from "../../../lib/core/mod.ts";
import type { MetricFamily } from "../../observe/metrics.ts";

/** Settings and status: what PUT/GET/DELETE .../webhook and .../webhook/retry call. */
export type WebhookAdmin = Pick<WebhookOutbox, "putWebhook" | "deleteWebhook" | "webhookStatus" | "requeueDead">;

/** The background delivery. */
export interface WebhookRunner {
  start(): void;
  /** Something was recorded or re-queued: look now. */
  kick(): void;
  stop(): Promise<void>;
  metrics(): MetricFamily[];
}
