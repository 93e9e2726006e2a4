/**
 * MqttOutput: the MQTT side of a site, over the `mqtt` npm client.
 *
 * - Every recorded event (identified, unknown) and every not-live face goes to its kiosk's topic
 *   (./topics.ts) as JSON with QoS 1; identifications also update the retained `last_person`.
 * - Home Assistant discovery (./discovery.ts) for each kiosk seen, again whenever Home Assistant
 *   announces itself (`<discovery prefix>/status` = online) and after each reconnect.
 * - `<prefix>/status` is `online` (retained) while connected and `offline` as the will, so a
 *   crash or a cut cable shows every kiosk unavailable.
 * - Door commands from Home Assistant (`.../door/set`) go to `onDoorCommand`; the door's state is
 *   published by `doorState`.
 *
 * Delivery: a persistent session (`clean: false`, a stable client id) and QoS 1, so the broker
 * keeps what it acknowledged for subscribers that are away, and the client resends what the broker
 * had not acknowledged after a reconnect. Messages produced while the broker is down wait in the
 * client's offline queue (bounded by MQTT_MAX_QUEUE; beyond, new messages are dropped and counted)
 * and go out, in order, when it is back. The queue lives in this process: the event log (and
 * webhooks) remain the durable record across a restart of facegate itself.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { EventRecord } from "../../../lib/core/mod.ts";
import { eventToWire } from "../../../lib/core/mod.ts";
import type { MetricFamily } from "../../observe/metrics.ts";
import type { NotLiveEvent } from "../signals.ts";
import type { MqttConfig } from "./config.ts";
import { discoveryMessages, LOCK } from "./discovery.ts";
import { Topics } from "./topics.ts";

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export type DoorCommand = "LOCK" | "UNLOCK";

export interface MqttOutputOptions {
  config: MqttConfig;
  /** The server's version (device sw_version in discovery). */
  version: string;
  log?: Log;
  /** Home Assistant asked the door of this kiosk to unlock (or lock). */
  onDoorCommand?: (companyId: string, kioskId: string, command: DoorCommand) => void;
}

/** Bound on the kiosks remembered for discovery (oldest forgotten first). */
const MAX_KIOSKS = 4096;

export class MqttOutput {
  readonly topics: Topics;
  private readonly client: MqttClient;
  private readonly kiosks = new Map<string, { companyId: string; kioskId: string }>();
  private pending = 0;
  private readonly counts = { published: 0, failed: 0, dropped: 0 };
  private closed = false;
  private everConnected = false;

  constructor(private readonly opts: MqttOutputOptions) {
    const c = opts.config;
    this.topics = new Topics(c.topicPrefix);
    const options: IClientOptions = {
      clientId: c.clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      // QoS 0 (nothing here) is not queued; QoS 1 messages wait for the connection.
      queueQoSZero: false,
      will: { topic: this.topics.status, payload: Buffer.from("offline"), qos: 1, retain: true },
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.ca !== undefined ? { ca: c.ca } : {}),
      rejectUnauthorized: c.rejectUnauthorized,
    };
    this.client = mqtt.connect(c.url, options);
    this.client.on("connect", (ack) => this.onConnect(ack.sessionPresent));
    this.client.on("message", (topic, payload) => this.onMessage(topic, payload));
    this.client.on("error", (error) => opts.log?.("warn", "mqtt: connection error", { error: error.message }));
    this.client.on("offline", () => opts.log?.("warn", "mqtt: broker unreachable; messages wait in the queue", { url: redact(c.url), queued: this.pending }));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Messages handed to the client and not yet acknowledged by the broker. */
  get queued(): number {
    return this.pending;
  }

  private onConnect(sessionPresent: boolean): void {
    this.opts.log?.("info", "mqtt: connected", { url: redact(this.opts.config.url), clientId: this.opts.config.clientId, sessionPresent, queued: this.pending });
    this.send(this.topics.status, "online", true);
    const subs = [this.topics.doorSetFilter, ...(this.opts.config.discovery ? [`${this.opts.config.discoveryPrefix}/status`] : [])];
    this.client.subscribe(subs, { qos: 1 }, (error) => {
      if (error) this.opts.log?.("warn", "mqtt: subscribe failed", { error: error.message });
    });
    // After a reconnect (the broker may have restarted without its store): announce the kiosks again.
    // The first connection sends what was queued before it.
    if (this.everConnected) for (const k of this.kiosks.values()) this.discover(k.companyId, k.kioskId);
    this.everConnected = true;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const text = payload.toString("utf8").trim();
    if (topic === `${this.opts.config.discoveryPrefix}/status`) {
      // Home Assistant (re)started: it forgot non-retained state; announce the kiosks again.
      if (text === "online") for (const k of this.kiosks.values()) this.discover(k.companyId, k.kioskId);
      return;
    }
    const door = this.topics.parseDoorSet(topic);
    if (!door) return;
    if (text !== LOCK.lock && text !== LOCK.unlock) {
      this.opts.log?.("warn", "mqtt: door command ignored (expected LOCK or UNLOCK)", { topic, payload: text.slice(0, 64) });
      return;
    }
    this.opts.onDoorCommand?.(door.companyId, door.kioskId, text);
  }

  /** Publishes with QoS 1; resolves when the broker acknowledged it (or it was dropped / failed: false). */
  send(topic: string, payload: string, retain = false): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.pending >= this.opts.config.maxQueue) {
      this.counts.dropped++;
      return Promise.resolve(false);
    }
    this.pending++;
    return new Promise((resolve) => {
      this.client.publish(topic, payload, { qos: 1, retain }, (error) => {
        this.pending--;
        if (error) {
          this.counts.failed++;
          this.opts.log?.("warn", "mqtt: publish failed", { topic, error: error.message });
          resolve(false);
        } else {
          this.counts.published++;
          resolve(true);
        }
      });
    });
  }

  /** A kiosk session started or an event named a kiosk: announce it to Home Assistant once. */
  kioskSeen(companyId: string, kioskId: string | null | undefined): void {
    if (!kioskId) return;
    const key = `${companyId}\u0000${kioskId}`;
    if (this.kiosks.has(key)) return;
    if (this.kiosks.size >= MAX_KIOSKS) {
      const oldest = this.kiosks.keys().next().value;
      if (oldest !== undefined) this.kiosks.delete(oldest);
    }
    this.kiosks.set(key, { companyId, kioskId });
    this.discover(companyId, kioskId);
  }

  private discover(companyId: string, kioskId: string): void {
    if (!this.opts.config.discovery) return;
    const messages = discoveryMessages({ topics: this.topics, discoveryPrefix: this.opts.config.discoveryPrefix, companyId, kioskId, version: this.opts.version });
    for (const m of messages) void this.send(m.topic, JSON.stringify(m.payload), true);
  }

  /** A recorded event (the log's record: with its id), to `identified` or `unknown`. */
  event(record: EventRecord): void {
    this.kioskSeen(record.companyId, record.kioskId);
    const body = eventToWire(record);
    void this.send(this.topics.message(record.type, record.companyId, record.kioskId), JSON.stringify(body));
    if (record.type === "identified" && record.kioskId) {
      const person = { user_id: record.userId, ...(record.name !== undefined ? { name: record.name } : {}), at: record.at, confidence: record.confidence, event_id: record.id };
      void this.send(this.topics.lastPerson(record.companyId, record.kioskId), JSON.stringify(person), true);
    }
  }

  notLive(e: NotLiveEvent): void {
    this.kioskSeen(e.companyId, e.kioskId);
    const body = {
      type: "not_live",
      company_id: e.companyId,
      kiosk_id: e.kioskId ?? null,
      at: e.at,
      session_id: e.sessionId,
      frames: e.frames,
      ...(e.liveness ? { liveness: e.liveness } : {}),
    };
    void this.send(this.topics.message("not_live", e.companyId, e.kioskId), JSON.stringify(body));
  }

  doorState(companyId: string, kioskId: string, state: "LOCKED" | "UNLOCKED"): void {
    this.kioskSeen(companyId, kioskId);
    void this.send(this.topics.doorState(companyId, kioskId), state, true);
  }

  metrics(): MetricFamily[] {
    return [
      { name: "facegate_mqtt_connected", help: "1 while connected to the MQTT broker.", values: [{ value: this.client.connected ? 1 : 0 }] },
      { name: "facegate_mqtt_queued", help: "MQTT messages not yet acknowledged by the broker (waiting while it is away).", values: [{ value: this.pending }] },
      {
        name: "facegate_mqtt_messages_total",
        help: "MQTT messages by outcome: published (acknowledged), failed, dropped (the queue was full).",
        type: "counter",
        values: (["published", "failed", "dropped"] as const).map((outcome) => ({ labels: { outcome }, value: this.counts[outcome] })),
      },
    ];
  }

  /** Says offline (retained) and disconnects; waits up to `waitMs` for queued messages to go out first. */
  async close(waitMs = 2000): Promise<void> {
    if (this.closed) return;
    const deadline = Date.now() + waitMs;
    while (this.pending > 0 && this.client.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.client.connected) await this.send(this.topics.status, "offline", true);
    this.closed = true;
    await this.client.endAsync(!this.client.connected).catch(() => {});
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}
