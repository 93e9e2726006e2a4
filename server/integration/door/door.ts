/**
 * DoorController: on an identification (the kiosk decides only after liveness), the kiosk's door
 * rule (./config.ts) runs: an HTTP relay call (./relay.ts) or an MQTT command. Home Assistant's
 * "Door" lock (MQTT discovery) can also unlock it; the lock's state follows (UNLOCKED for
 * `open_ms`, then LOCKED). Each action's latency is measured from the frame that decided:
 * frame → decision (recognition) and decision → action sent (acknowledged by the relay or the broker).
 */
import { randomUUID } from "node:crypto";
import type { IdentifiedEvent } from "../../../lib/core/mod.ts";
import type { DecisionTiming } from "../signals.ts";
import type { MetricFamily } from "../../observe/metrics.ts";
import type { DoorCommand, MqttOutput } from "../mqtt/mod.ts";
import { ruleFor, type DoorRule } from "./config.ts";
import { callRelay } from "./relay.ts";

type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export interface DoorOutcome {
  companyId: string;
  kioskId: string | null;
  userId: string | null;
  via: "http" | "mqtt";
  reason: "identified" | "home_assistant";
  ok: boolean;
  attempts: number;
  error: string | null;
  /** Frame arrival → decision, and decision → action sent (ms); absent for Home Assistant's commands. */
  frameToDecisionMs?: number;
  decisionToSentMs?: number;
}

export interface DoorControllerOptions {
  rules: readonly DoorRule[];
  /** Needed by `mqtt` rules, and to show the door's state in Home Assistant. */
  mqtt?: MqttOutput;
  log?: Log;
  /** Every finished action (tests, bench:door). */
  onOutcome?: (o: DoorOutcome) => void;
}

export class DoorController {
  /** Seconds summed and counted per stage (bench:door gives the percentiles). */
  private readonly latency = { decision: { sum: 0, count: 0 }, action: { sum: 0, count: 0 } };
  private readonly outcomes = new Map<string, number>();
  private readonly relock = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly opts: DoorControllerOptions) {
    if (opts.rules.some((r) => r.mqtt) && !opts.mqtt) throw new Error("door rules with mqtt actions need MQTT_URL");
  }

  /** Whether a kiosk has a door rule. */
  has(companyId: string, kioskId: string | null | undefined): boolean {
    return ruleFor(this.opts.rules, companyId, kioskId) !== undefined;
  }

  /** The kiosk identified someone: open its door, if it has one. */
  identified(event: IdentifiedEvent, timing: DecisionTiming): Promise<DoorOutcome> | null {
    const rule = ruleFor(this.opts.rules, event.companyId, event.kioskId);
    if (!rule) return null;
    const body = {
      type: "door.open",
      reason: "identified",
      company_id: event.companyId,
      kiosk_id: event.kioskId ?? null,
      user_id: event.userId,
      ...(event.name !== undefined ? { name: event.name } : {}),
      confidence: event.confidence,
      at: event.at,
      session_id: event.sessionId,
    };
    return this.run(rule, event.companyId, event.kioskId ?? null, event.userId, "identified", body, timing);
  }

  /** Home Assistant's Door lock: UNLOCK runs the action, LOCK only shows the door locked. */
  command(companyId: string, kioskId: string, command: DoorCommand): void {
    const rule = ruleFor(this.opts.rules, companyId, kioskId);
    if (command === "LOCK" || !rule) {
      if (!rule) this.opts.log?.("warn", "door: Home Assistant asked for a kiosk without a door rule", { company: companyId, kiosk: kioskId, command });
      this.opts.mqtt?.doorState(companyId, kioskId, "LOCKED");
      return;
    }
    const body = { type: "door.open", reason: "home_assistant", company_id: companyId, kiosk_id: kioskId, user_id: null, at: new Date().toISOString() };
    void this.run(rule, companyId, kioskId, null, "home_assistant", body);
  }

  private async run(rule: DoorRule, companyId: string, kioskId: string | null, userId: string | null, reason: DoorOutcome["reason"], body: Record<string, unknown>, timing?: DecisionTiming): Promise<DoorOutcome> {
    const id = randomUUID();
    const start = timing?.decidedAt ?? performance.now();
    const text = JSON.stringify({ id, ...body });
    let result: { ok: boolean; attempts: number; error: string | null };
    let via: DoorOutcome["via"];
    if (rule.http) {
      via = "http";
      const h = rule.http;
      result = await callRelay({ url: h.url, secret: h.secret, id, body: text, timeoutMs: h.timeout_ms, retries: h.retries, deadline: start + h.budget_ms });
    } else {
      via = "mqtt";
      const topic = rule.mqtt?.topic ?? `${this.opts.mqtt!.topics.kiosk(companyId, kioskId)}/door/command`;
      const ok = await this.opts.mqtt!.send(topic, rule.mqtt?.payload ?? text);
      result = { ok, attempts: 1, error: ok ? null : "the MQTT broker did not take the command" };
    }
    const sent = performance.now();
    const outcome: DoorOutcome = { companyId, kioskId, userId, via, reason, ...result };
    if (timing) {
      outcome.frameToDecisionMs = timing.decidedAt - timing.frameAt;
      outcome.decisionToSentMs = sent - timing.decidedAt;
      this.latency.decision.sum += outcome.frameToDecisionMs / 1000;
      this.latency.decision.count++;
      if (result.ok) {
        this.latency.action.sum += outcome.decisionToSentMs / 1000;
        this.latency.action.count++;
      }
    }
    const key = `${via}:${result.ok ? "sent" : "failed"}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    if (!result.ok) this.opts.log?.("warn", "door: action failed", { company: companyId, kiosk: kioskId, via, attempts: result.attempts, error: result.error });
    else if (kioskId) this.showOpen(companyId, kioskId, rule.open_ms);
    this.opts.onOutcome?.(outcome);
    return outcome;
  }

  private showOpen(companyId: string, kioskId: string, openMs: number): void {
    const mqtt = this.opts.mqtt;
    if (!mqtt) return;
    mqtt.doorState(companyId, kioskId, "UNLOCKED");
    const key = `${companyId}\u0000${kioskId}`;
    clearTimeout(this.relock.get(key));
    const timer = setTimeout(() => {
      this.relock.delete(key);
      mqtt.doorState(companyId, kioskId, "LOCKED");
    }, openMs);
    timer.unref?.();
    this.relock.set(key, timer);
  }

  metrics(): MetricFamily[] {
    return [
      {
        name: "facegate_door_actions_total",
        help: "Door actions by channel (http, mqtt) and outcome (sent, failed after its retries).",
        type: "counter",
        values: ["http", "mqtt"].flatMap((via) => ["sent", "failed"].map((outcome) => ({ labels: { via, outcome }, value: this.outcomes.get(`${via}:${outcome}`) ?? 0 }))),
      },
      {
        name: "facegate_door_latency_seconds_sum",
        help: "Door actions: seconds from the deciding frame's arrival to the decision (stage=decision), and from the decision to the action acknowledged (stage=action), summed.",
        type: "counter",
        values: (["decision", "action"] as const).map((stage) => ({ labels: { stage }, value: this.latency[stage].sum })),
      },
      {
        name: "facegate_door_latency_seconds_count",
        help: "Door actions measured, per stage (see facegate_door_latency_seconds_sum).",
        type: "counter",
        values: (["decision", "action"] as const).map((stage) => ({ labels: { stage }, value: this.latency[stage].count })),
      },
    ];
  }

  close(): void {
    for (const t of this.relock.values()) clearTimeout(t);
    this.relock.clear();
  }
}
