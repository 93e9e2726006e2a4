/**
 * WebhookDeliverer: drains the durable outbox (WebhookOutbox) to each company's URL.
 *
 * - At least once: a row leaves the outbox only after the receiver answered 2xx. A crash between
 *   the receiver's 2xx and that delete (or during the request) delivers the event again after the
 *   restart: receivers dedupe on `Facegate-Event-Id` (also sent as `Idempotency-Key`).
 * - Retries: exponential back-off from `retryBaseMs`, doubled per attempt up to `retryMaxMs`, with
 *   jitter (each delay drawn from 50-100 % of its step, so failed receivers are not hit in lockstep);
 *   an event still undelivered `retryHours` after it was recorded becomes a dead letter (visible in
 *   GET .../webhook, re-queued by POST .../webhook/retry).
 * - At most `concurrency` requests in flight; due rows are read oldest first.
 */
import { deliveryKey, type Delivery, type WebhookOutbox } from "../../../lib/core/mod.ts";
import type { MetricFamily } from "../../observe/metrics.ts";
import { webhookMetrics } from "./metrics.ts";
import type { IntegrationConfig } from "../config.ts";
import { backoffMs, postEvent } from "./post.ts";
import type { DestinationPolicy } from "./destinations.ts";

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export interface WebhookDelivererOptions {
  outbox: WebhookOutbox;
  config: Pick<IntegrationConfig, "retryBaseMs" | "retryMaxMs" | "retryHours" | "timeoutMs" | "concurrency">;
  /** Where webhooks may POST (checked again at each delivery). */
  destinations: DestinationPolicy;
  log?: Log;
  /** Longest sleep between two looks at the outbox when nothing is due (default 1 s). */
  pollMs?: number;
  random?: () => number;
}

export class WebhookDeliverer {
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private ticking = false;
  private again = false;
  private readonly counts = { delivered: 0, failed: 0, dead: 0 };
  private totals = { pending: 0, dead: 0, webhooks: 0 };
  private totalsAt = Number.NEGATIVE_INFINITY;
  private readonly pollMs: number;
  private readonly random: () => number;

  constructor(private readonly opts: WebhookDelivererOptions) {
    this.pollMs = opts.pollMs ?? 1000;
    this.random = opts.random ?? Math.random;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.kick();
  }

  /** Look at the outbox now (an event was recorded). */
  kick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.tick();
  }

  /** Stops taking rows; waits for requests in flight (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Delay before attempt `attempts + 1` (attempts already made ≥ 1). */
  backoffMs(attempts: number): number {
    return backoffMs(attempts, this.opts.config.retryBaseMs, this.opts.config.retryMaxMs, this.random);
  }

  metrics(): MetricFamily[] {
    return webhookMetrics(this.counts, {
      pending: this.totals.pending,
      dead: this.totals.dead,
      inFlight: this.inFlight.size,
      webhooks: this.totals.webhooks,
    });
  }


  private async tick(): Promise<void> {
    this.ticking = true;
    try {
      do {
        this.again = false;
        if (!this.running) return;
        const room = this.opts.config.concurrency - this.inFlight.size;
        if (room > 0) {
          const due = await this.opts.outbox.due(Date.now(), room, new Set(this.inFlight.keys()));
          for (const d of due) {
            const key = deliveryKey(d);
            const p = this.deliver(d).finally(() => {
              this.inFlight.delete(key);
              this.kick();
            });
            this.inFlight.set(key, p);
          }
        }
        // gauges for /metrics: counting a large backlog is not free, once a second is enough
        if (performance.now() - this.totalsAt > 1000) {
          this.totalsAt = performance.now();
          this.totals = await this.opts.outbox.outboxTotals();
        }
      } while (this.again);
    } catch (error) {
      this.opts.log?.("warn", "webhook outbox unavailable", { error: String(error) });
    } finally {
      this.ticking = false;
    }
    if (!this.running) return;
    let wait = this.pollMs;
    try {
      const next = await this.opts.outbox.nextDueMs();
      if (next !== null) wait = Math.max(5, Math.min(wait, next - Date.now()));
    } catch {
      // keep polling
    }
    if (this.running && !this.ticking) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, wait);
    }
  }

  private async deliver(d: Delivery): Promise<void> {
    const error = await postEvent({ ...d, attempt: d.attempts + 1 }, this.opts.config.timeoutMs, this.opts.destinations);
    try {
      if (error === null) {
        this.counts.delivered++;
        await this.opts.outbox.succeeded(d);
        return;
      }
      const attempts = d.attempts + 1;
      const retryAt = Date.now() + this.backoffMs(attempts);
      const giveUp = retryAt - d.createdMs > this.opts.config.retryHours * 3_600_000;
      if (giveUp) {
        this.counts.dead++;
        this.opts.log?.("warn", "webhook: gave up on an event (dead letter)", { company: d.companyId, event: d.eventId, attempts, error });
      } else this.counts.failed++;
      await this.opts.outbox.failed(d, error, giveUp ? null : retryAt);
    } catch (e) {
      this.opts.log?.("warn", "webhook outbox update failed", { error: String(e) });
    }
  }
}
