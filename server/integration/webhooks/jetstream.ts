/**
 * Webhooks in NATS mode: the JetStream events stream is the durable outbox.
 *
 * - Settings live in a KV bucket (NATS_WEBHOOKS_BUCKET, default facegate_webhooks): `h.<company>`
 *   (URL, secret), `s.<company>` (delivered, last error, last success), `d.<company>.<event>` (dead
 *   letters with their payload). Company tokens are base64url, as the gallery's keys.
 * - Each webhook has a durable pull consumer on the events stream (filter: the company's subject,
 *   deliver new, explicit acks, `ack_wait` above the request timeout). Every gateway consumes it, so
 *   deliveries are shared, and a gateway that dies mid-delivery leaves its messages un-acked: the
 *   server redelivers them after `ack_wait` to another gateway (or the restarted one). At least once;
 *   a receiver dedupes on Facegate-Event-Id.
 * - A failed attempt is nak'ed with the back-off delay (JetStream redelivers it then); one still
 *   failing `WEBHOOK_RETRY_HOURS` after the event is terminated and kept as a dead letter. Re-queue
 *   (POST .../webhook/retry) attempts each dead letter again at once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { z } from "zod";
import { webhookPayload, type WebhookConfig, type WebhookStatus } from "../../../lib/core/mod.ts";
import { decodeId, encodeId, eventSubject, fromStreamEvent } from "../../../lib/nats/mod.ts";
import type { IntegrationConfig } from "../config.ts";
import type { MetricFamily } from "../../observe/metrics.ts";
import { webhookMetrics } from "./metrics.ts";
import { backoffMs, postEvent } from "./post.ts";
import type { DestinationPolicy } from "./destinations.ts";
import type { WebhookAdmin, WebhookRunner } from "./types.ts";

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export interface JetStreamWebhooksOptions {
  nc: NatsConnection;
  /** The events stream (NATS_EVENTS_STREAM). */
  stream: string;
  subjectPrefix?: string;
  bucket?: string;
  /** Replicas of a new bucket (NATS_KV_REPLICAS); default 1. */
  replicas?: number;
  config: Pick<IntegrationConfig, "retryBaseMs" | "retryMaxMs" | "retryHours" | "timeoutMs" | "concurrency">;
  /** Where webhooks may POST: the routes check a new URL, each delivery checks again. */
  destinations: DestinationPolicy;
  log?: Log;
}

const HookSchema = z.object({ url: z.string(), secret: z.string(), createdAt: z.string(), updatedAt: z.string() });
const StatsSchema = z.object({
  delivered: z.number().int().default(0),
  lastError: z.string().nullable().default(null),
  lastErrorAt: z.string().nullable().default(null),
  lastSuccessAt: z.string().nullable().default(null),
});
const DeadSchema = z.object({ eventId: z.string(), attempts: z.number().int(), lastError: z.string().nullable(), deadAt: z.string(), payload: z.string() });
type Hook = z.infer<typeof HookSchema>;

const dec = new TextDecoder();

export class JetStreamWebhooks implements WebhookAdmin, WebhookRunner {
  private readonly consumers = new Map<string, { messages: ConsumerMessages; done: Promise<void> }>();
  private readonly hooks = new Map<string, Hook>();
  private readonly counts = { delivered: 0, failed: 0, dead: 0 };
  private inFlight = 0;
  private running = false;
  private stopWatch: (() => void) | null = null;
  private totals = { pending: 0, dead: 0 };
  private totalsTimer: ReturnType<typeof setInterval> | null = null;

  private constructor(
    private readonly opts: JetStreamWebhooksOptions,
    private readonly kv: KV,
  ) {}

  static async open(opts: JetStreamWebhooksOptions): Promise<JetStreamWebhooks> {
    const kv = await new Kvm(jetstream(opts.nc)).create(opts.bucket ?? "facegate_webhooks", { history: 1, replicas: opts.replicas ?? 1 });
    return new JetStreamWebhooks(opts, kv);
  }

  private durable(companyId: string): string {
    return `webhook_${encodeId(companyId)}`;
  }

  // ---------------------------------------------------------------- admin (the routes)

  async putWebhook(companyId: string, config: WebhookConfig): Promise<void> {
    const token = encodeId(companyId);
    const now = new Date().toISOString();
    const old = await this.readHook(companyId);
    const jsm = await jetstreamManager(this.opts.nc);
    try {
      await jsm.consumers.info(this.opts.stream, this.durable(companyId));
    } catch {
      await jsm.consumers.add(this.opts.stream, {
        durable_name: this.durable(companyId),
        filter_subject: eventSubject(companyId, this.opts.subjectPrefix),
        deliver_policy: DeliverPolicy.New,
        ack_policy: AckPolicy.Explicit,
        ack_wait: (this.opts.config.timeoutMs * 2 + 5_000) * 1e6,
        max_deliver: -1,
      });
    }
    await this.kv.put(`h.${token}`, JSON.stringify({ ...config, createdAt: old?.createdAt ?? now, updatedAt: now } satisfies Hook));
  }

  async deleteWebhook(companyId: string): Promise<boolean> {
    const token = encodeId(companyId);
    const had = (await this.readHook(companyId)) !== null;
    await this.kv.delete(`h.${token}`);
    await this.kv.delete(`s.${token}`);
    for (const key of await this.keys(`d.${token}.>`)) await this.kv.delete(key);
    const jsm = await jetstreamManager(this.opts.nc);
    await jsm.consumers.delete(this.opts.stream, this.durable(companyId)).catch(() => false);
    return had;
  }

  async webhookStatus(companyId: string): Promise<WebhookStatus | null> {
    const hook = await this.readHook(companyId);
    if (!hook) return null;
    const token = encodeId(companyId);
    let pending = 0;
    try {
      const info = await (await jetstreamManager(this.opts.nc)).consumers.info(this.opts.stream, this.durable(companyId));
      pending = info.num_pending + info.num_ack_pending;
    } catch {
      // consumer not created yet
    }
    const stats = await this.readStats(companyId);
    const dead = [];
    for (const key of await this.keys(`d.${token}.>`)) {
      const v = await this.kv.get(key);
      const parsed = v && v.operation === "PUT" ? DeadSchema.safeParse(safeJson(v.value)) : null;
      if (parsed?.success) dead.push(parsed.data);
    }
    dead.sort((a, b) => (a.deadAt < b.deadAt ? 1 : -1));
    return {
      companyId,
      url: hook.url,
      secretHint: hook.secret.slice(-4),
      createdAt: hook.createdAt,
      updatedAt: hook.updatedAt,
      pending,
      deadLetters: dead.length,
      delivered: stats.delivered,
      lastError: stats.lastError,
      lastErrorAt: stats.lastErrorAt,
      lastSuccessAt: stats.lastSuccessAt,
      recentDeadLetters: dead.slice(0, 20).map((d) => ({ eventId: d.eventId, attempts: d.attempts, lastError: d.lastError, deadAt: d.deadAt })),
    };
  }

  /** Attempts every dead letter again now (in the background); returns how many. */
  async requeueDead(companyId: string): Promise<number> {
    const hook = await this.readHook(companyId);
    if (!hook) return 0;
    const keys = await this.keys(`d.${encodeId(companyId)}.>`);
    for (const key of keys) {
      void (async () => {
        const v = await this.kv.get(key);
        const parsed = v && v.operation === "PUT" ? DeadSchema.safeParse(safeJson(v.value)) : null;
        if (!parsed?.success) return;
        const d = parsed.data;
        const error = await postEvent({ url: hook.url, secret: hook.secret, eventId: d.eventId, payload: d.payload, attempt: d.attempts + 1 }, this.opts.config.timeoutMs, this.opts.destinations);
        if (error === null) {
          await this.kv.delete(key);
          await this.noteSuccess(companyId);
        } else {
          await this.kv.put(key, JSON.stringify({ ...d, attempts: d.attempts + 1, lastError: error }));
          await this.noteError(companyId, error);
        }
      })().catch((e: unknown) => this.opts.log?.("warn", "webhook: re-queue failed", { error: String(e) }));
    }
    return keys.length;
  }

  // ---------------------------------------------------------------- runner

  start(): void {
    if (this.running) return;
    this.running = true;
    // /metrics is synchronous: pending and dead-letter totals are refreshed in the background
    this.totalsTimer = setInterval(() => void this.refreshTotals().catch(() => {}), 5_000);
    this.totalsTimer.unref?.();
    void (async () => {
      // Every gateway consumes every webhook: follow the settings as they change.
      const watch = await this.kv.watch({ key: "h.>" });
      this.stopWatch = () => watch.stop();
      for await (const e of watch) {
        const companyId = decodeToken(e.key.slice(2));
        if (companyId === null) continue;
        if (e.operation === "PUT") {
          const hook = HookSchema.safeParse(safeJson(e.value));
          if (!hook.success) continue;
          this.hooks.set(companyId, hook.data);
          if (!this.consumers.has(companyId)) void this.consume(companyId);
        } else {
          this.hooks.delete(companyId);
          await this.consumers.get(companyId)?.messages.close();
          this.consumers.delete(companyId);
        }
      }
    })().catch((error: unknown) => this.opts.log?.("warn", "webhook settings watch ended", { error: String(error) }));
  }

  kick(): void {
    // JetStream pushes new events to the consumers: nothing to wake.
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.totalsTimer) clearInterval(this.totalsTimer);
    this.stopWatch?.();
    const all = [...this.consumers.values()];
    this.consumers.clear();
    for (const c of all) await c.messages.close().catch(() => {});
    await Promise.allSettled(all.map((c) => c.done));
  }

  metrics(): MetricFamily[] {
    return webhookMetrics(this.counts, {
      pending: this.totals.pending,
      dead: this.totals.dead,
      inFlight: this.inFlight,
      webhooks: this.hooks.size,
      totalsNote: "all webhooks; refreshed every 5 s",
    });
  }


  private async consume(companyId: string): Promise<void> {
    let messages: ConsumerMessages;
    try {
      const consumer = await jetstream(this.opts.nc).consumers.get(this.opts.stream, this.durable(companyId));
      messages = await consumer.consume({ max_messages: this.opts.config.concurrency });
    } catch (error) {
      this.opts.log?.("warn", "webhook: cannot consume", { company: companyId, error: String(error) });
      return;
    }
    const running = new Set<Promise<void>>();
    const done = (async () => {
      for await (const m of messages) {
        const p = this.handle(companyId, m).finally(() => running.delete(p));
        running.add(p);
        if (running.size >= this.opts.config.concurrency) await Promise.race(running);
      }
      await Promise.allSettled(running);
    })();
    this.consumers.set(companyId, { messages, done });
  }

  private async handle(companyId: string, m: JsMsg): Promise<void> {
    const hook = this.hooks.get(companyId);
    const event = fromStreamEvent(safeJson(m.data), m.seq);
    if (!hook || !event) {
      m.term();
      return;
    }
    const attempt = m.info.deliveryCount;
    const payload = webhookPayload(event);
    this.inFlight++;
    let error: string | null;
    try {
      error = await postEvent({ url: hook.url, secret: hook.secret, eventId: event.id, payload, attempt }, this.opts.config.timeoutMs, this.opts.destinations);
    } finally {
      this.inFlight--;
    }
    if (error === null) {
      m.ack();
      this.counts.delivered++;
      await this.noteSuccess(companyId).catch(() => {});
      return;
    }
    const delay = backoffMs(attempt, this.opts.config.retryBaseMs, this.opts.config.retryMaxMs);
    const createdMs = m.info.timestampNanos / 1e6;
    if (Date.now() + delay - createdMs > this.opts.config.retryHours * 3_600_000) {
      this.counts.dead++;
      const dead = { eventId: event.id, attempts: attempt, lastError: error, deadAt: new Date().toISOString(), payload };
      await this.kv.put(`d.${encodeId(companyId)}.${event.id}`, JSON.stringify(dead)).catch(() => {});
      m.term();
      this.opts.log?.("warn", "webhook: gave up on an event (dead letter)", { company: companyId, event: event.id, attempts: attempt, error });
    } else {
      this.counts.failed++;
      m.nak(delay);
    }
    await this.noteError(companyId, error).catch(() => {});
  }

  private async refreshTotals(): Promise<void> {
    let pending = 0;
    let dead = 0;
    for (const companyId of this.hooks.keys()) {
      const s = await this.webhookStatus(companyId);
      pending += s?.pending ?? 0;
      dead += s?.deadLetters ?? 0;
    }
    this.totals = { pending, dead };
  }

  // ---------------------------------------------------------------- KV helpers

  private async readHook(companyId: string): Promise<Hook | null> {
    const v = await this.kv.get(`h.${encodeId(companyId)}`);
    if (!v || v.operation !== "PUT") return null;
    const parsed = HookSchema.safeParse(safeJson(v.value));
    return parsed.success ? parsed.data : null;
  }

  private async readStats(companyId: string): Promise<z.infer<typeof StatsSchema>> {
    const v = await this.kv.get(`s.${encodeId(companyId)}`);
    return StatsSchema.parse(v && v.operation === "PUT" ? (safeJson(v.value) ?? {}) : {});
  }

  private async noteSuccess(companyId: string): Promise<void> {
    const s = await this.readStats(companyId);
    await this.kv.put(`s.${encodeId(companyId)}`, JSON.stringify({ ...s, delivered: s.delivered + 1, lastSuccessAt: new Date().toISOString() }));
  }

  private async noteError(companyId: string, error: string): Promise<void> {
    const s = await this.readStats(companyId);
    await this.kv.put(`s.${encodeId(companyId)}`, JSON.stringify({ ...s, lastError: error.slice(0, 500), lastErrorAt: new Date().toISOString() }));
  }

  private async keys(filter: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(dec.decode(data));
  } catch {
    return null;
  }
}

function decodeToken(token: string): string | null {
  try {
    return decodeId(token);
  } catch {
    return null;
  }
}
