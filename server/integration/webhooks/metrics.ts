/** The webhook metric families, one definition for both runners (SQLite outbox and JetStream). */
import { byLabel, type MetricFamily } from "../../observe/metrics.ts";

export interface WebhookCounts {
  delivered: number;
  failed: number;
  dead: number;
}

export interface WebhookGauges {
  pending: number;
  dead: number;
  inFlight: number;
  webhooks: number;
  /** How the pending/dead totals are obtained, said in their help text (e.g. "refreshed every 5 s"). */
  totalsNote?: string;
}

export function webhookMetrics(counts: WebhookCounts, g: WebhookGauges): MetricFamily[] {
  const note = g.totalsNote ? ` (${g.totalsNote})` : "";
  return [
    byLabel(
      "facegate_webhook_deliveries_total",
      "Webhook delivery attempts by outcome (delivered: 2xx; failed: will be retried; dead: gave up).",
      "outcome",
      { delivered: counts.delivered, failed: counts.failed, dead: counts.dead },
    ),
    { name: "facegate_webhook_pending", help: `Events waiting for webhook delivery${note}.`, values: [{ value: g.pending }] },
    { name: "facegate_webhook_dead_letters", help: `Events the webhooks gave up on (dead letters)${note}.`, values: [{ value: g.dead }] },
    { name: "facegate_webhook_in_flight", help: "Webhook requests in flight.", values: [{ value: g.inFlight }] },
    { name: "facegate_webhooks", help: "Companies with a webhook.", values: [{ value: g.webhooks }] },
  ];
}
