/**
 * The site's outputs, built from the environment and attached to the kiosk: the MQTT output
 * (MQTT_*) and the door (DOORS / DOORS_FILE). Recorded events reach MQTT through the integration
 * (`outputs`); kiosk signals bring not-live faces and session starts (Home Assistant discovery)
 * to MQTT, and identifications to the door, at once (the door does not wait for the event log).
 */
import { ConfigError } from "../config/server.ts";
import type { IntegrationOutput } from "./integration.ts";
import type { KioskSignal } from "./signals.ts";
import { DoorController, loadDoorRules, type DoorOutcome, type DoorRule } from "./door/mod.ts";
import { loadMqttConfig, MqttOutput, type MqttConfig } from "./mqtt/mod.ts";

type Env = Record<string, string | undefined>;
type Log = (level: "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;

export interface SiteConfig {
  mqtt: MqttConfig | null;
  doors: DoorRule[];
}

/** Every MQTT and door setting checked at once (one ConfigError with a line per problem). */
export function loadSiteConfig(env: Env, readFile?: (path: string) => string): SiteConfig {
  const problems: string[] = [];
  let mqtt: MqttConfig | null = null;
  let doors: DoorRule[] = [];
  try {
    mqtt = loadMqttConfig(env, readFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  try {
    doors = loadDoorRules(env, readFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (!env.MQTT_URL?.trim() && doors.some((d) => d.mqtt)) problems.push("DOORS: a door with an mqtt action needs MQTT_URL");
  if (problems.length > 0) throw new ConfigError(problems);
  return { mqtt, doors };
}

export class SiteOutputs {
  readonly mqtt?: MqttOutput;
  readonly door?: DoorController;

  constructor(config: SiteConfig, opts: { version: string; log?: Log; onDoorOutcome?: (o: DoorOutcome) => void }) {
    if (config.mqtt) {
      this.mqtt = new MqttOutput({
        config: config.mqtt,
        version: opts.version,
        log: opts.log,
        onDoorCommand: (companyId, kioskId, command) => this.door?.command(companyId, kioskId, command),
      });
    }
    if (config.doors.length > 0) this.door = new DoorController({ rules: config.doors, mqtt: this.mqtt, log: opts.log, onOutcome: opts.onDoorOutcome });
  }

  /** What the integration hands each recorded event to. */
  outputs(): IntegrationOutput[] {
    const mqtt = this.mqtt;
    const door = this.door;
    const out: IntegrationOutput[] = [];
    if (mqtt) out.push({ event: (r) => mqtt.event(r), metrics: () => mqtt.metrics(), close: () => mqtt.close() });
    if (door) out.push({ event: () => {}, metrics: () => door.metrics(), close: async () => door.close() });
    return out;
  }

  /** Follows a kiosk's signals; returns the unsubscribe. */
  attach(kiosk: { onSignal(listener: (signal: KioskSignal) => void): () => void }): () => void {
    return kiosk.onSignal((s) => this.signal(s));
  }

  signal(s: KioskSignal): void {
    switch (s.type) {
      case "session":
        this.mqtt?.kioskSeen(s.companyId, s.kioskId);
        return;
      case "identified":
        void this.door?.identified(s.event, s.timing);
        return;
      case "not_live":
        this.mqtt?.notLive(s.event);
        return;
      case "unknown":
        return; // recorded first, then published with its event id (outputs())
    }
  }
}
