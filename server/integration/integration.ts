/**
 * Integration: the event log with its recorder, the webhook outbox and its deliverer, and the
 * retention timer, started and stopped together. main.ts builds one once the service is up
 * (embedded: SQLite beside the gallery; NATS: the JetStream events stream).
 */
import type { EventLog, EventRecord, WebhookOutbox } from "../../lib/core/mod.ts";
import type { WebhookAdmin, WebhookRunner } from "./webhooks/types.ts";
import type { MetricFamily } from "../observe/metrics.ts";
import { WebhookDeliverer } from "./webhooks/deliverer.ts";
import { destinationPolicyFor, type DestinationPolicy } from "./webhooks/destinations.ts";
import { DEFAULT_INTEGRATION_CONFIG, type IntegrationConfig } from "./config.ts";
import { EventRecorder } from "./events/recorder.ts";

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

/** Something recorded events also go to as they are recorded (MQTT). */
export interface IntegrationOutput {
  event(record: EventRecord): void;
  metrics(): MetricFamily[];
  close(): Promise<void>;
}

export interface IntegrationOptions {
  log: EventLog;
  /** Embedded: the durable outbox beside the event log, drained by a WebhookDeliverer. */
  outbox?: WebhookOutbox;
  /** Or webhooks managed elsewhere (NATS mode: JetStream consumers). Without either: no webhooks. */
  webhooks?: { admin: WebhookAdmin; runner: WebhookRunner };
  config?: Partial<IntegrationConfig>;
  /** Where webhooks may POST; default: from the config (WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOWED_HOSTS). */
  destinations?: DestinationPolicy;
  defaultThreshold?: (companyId: string) => number | null;
  logger?: Log;
  /** Where recorded events also go (the MQTT output); closed with the integration. */
  outputs?: IntegrationOutput[];
  /** Start delivering at once (default true). */
  start?: boolean;
}

const RETENTION_EVERY_MS = 3_600_000;

export class Integration {
  readonly log: EventLog;
  /** Webhook settings and status (the routes). */
  readonly webhookAdmin?: WebhookAdmin;
  readonly recorder: EventRecorder;
  readonly deliverer?: WebhookRunner;
  readonly config: IntegrationConfig;
  /** Checked by PUT .../webhook and again by the deliverer at each attempt. */
  readonly destinations: DestinationPolicy;
  private readonly closing_ = new AbortController();
  private retentionTimer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private readonly outputs: IntegrationOutput[];

  constructor(opts: IntegrationOptions) {
    this.outputs = opts.outputs ?? [];
    this.config = { ...DEFAULT_INTEGRATION_CONFIG, ...opts.config };
    this.log = opts.log;
    this.destinations = opts.destinations ?? destinationPolicyFor(this.config);
    if (opts.outbox) {
      this.webhookAdmin = opts.outbox;
      this.deliverer = new WebhookDeliverer({ outbox: opts.outbox, config: this.config, destinations: this.destinations, log: opts.logger });
    } else if (opts.webhooks) {
      this.webhookAdmin = opts.webhooks.admin;
      this.deliverer = opts.webhooks.runner;
    }
    this.recorder = new EventRecorder({
      log: opts.log,
      defaultThreshold: opts.defaultThreshold,
      onRecorded: (record) => {
        this.deliverer?.kick();
        for (const o of this.outputs) {
          try {
            o.event(record);
          } catch (error) {
            opts.logger?.("warn", "events: an output failed", { error: String(error) });
          }
        }
      },
    });
    if (opts.start !== false) this.start(opts.logger);
  }

  /** Aborted by close(): live event streams end so the server can drain. */
  get closing(): AbortSignal {
    return this.closing_.signal;
  }

  private start(logger?: Log): void {
    this.deliverer?.start();
    if (this.config.retentionDays > 0) {
      const purge = () => {
        const before = Date.now() - this.config.retentionDays * 86_400_000;
        this.log.purge(before).then(
          (n) => n > 0 && logger?.("info", "events: retention purge", { deleted: n, retentionDays: this.config.retentionDays }),
          (error: unknown) => logger?.("warn", "events: retention purge failed", { error: String(error) }),
        );
      };
      purge();
      this.retentionTimer = setInterval(purge, RETENTION_EVERY_MS);
      this.retentionTimer.unref?.();
    }
  }

  metrics(): MetricFamily[] {
    return [...this.recorder.metrics(), ...(this.deliverer?.metrics() ?? []), ...this.outputs.flatMap((o) => o.metrics())];
  }

  /**
   * The company was deleted: its events and its webhook (with undelivered events) go too, so a
   * company created again later under the same id starts empty and delivers nowhere.
   */
  async forgetCompany(companyId: string): Promise<void> {
    await this.webhookAdmin?.deleteWebhook(companyId);
    await this.log.forgetCompany(companyId);
  }

  /** Ends live streams (call before draining the HTTP server). */
  endStreams(): void {
    this.closing_.abort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing_.abort();
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.deliverer?.stop();
    for (const o of this.outputs) await o.close().catch(() => {});
    await this.log.close();
  }
}
