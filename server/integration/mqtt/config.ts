/**
 * MQTT output settings (zod, one line per bad variable like the server's own settings).
 *
 * | env | default | meaning |
 * |---|---|---|
 * | MQTT_URL | (off) | `mqtt://host:1883` or `mqtts://host:8883`; unset: no MQTT output |
 * | MQTT_USERNAME, MQTT_PASSWORD | | broker credentials |
 * | MQTT_CA_FILE | | PEM file of the CA that signed the broker's certificate (mqtts://) |
 * | MQTT_TLS_INSECURE | off | on: do not verify the broker's certificate (tests, never production) |
 * | MQTT_TOPIC_PREFIX | facegate | messages go to `<prefix>/<company>/<kiosk>/<type>` |
 * | MQTT_CLIENT_ID | facegate-<host> | the persistent session's id (one per server: two servers with one id kick each other off) |
 * | MQTT_DISCOVERY | on | Home Assistant MQTT discovery (each kiosk a device) |
 * | MQTT_DISCOVERY_PREFIX | homeassistant | Home Assistant's discovery prefix |
 * | MQTT_MAX_QUEUE | 10000 | messages held for the broker while it is away; beyond, new ones are dropped (counted) |
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";
import { ConfigError } from "../../config/server.ts";

const boolSetting = z.enum(["on", "off", "true", "false", "1", "0", "yes", "no"]).transform((v) => ["on", "true", "1", "yes"].includes(v));
/** A topic level: no wildcards, no separator, no control characters. */
const Level = z.string().trim().min(1).max(64).regex(/^[^/+#\u0000-\u001f]+$/, "one topic level: no / + # or control characters");

const EnvSchema = z.object({
  MQTT_URL: z
    .string()
    .trim()
    .refine((u) => {
      try {
        return ["mqtt:", "mqtts:"].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    }, "expected mqtt://host:port or mqtts://host:port"),
  MQTT_USERNAME: z.string().max(256).optional(),
  MQTT_PASSWORD: z.string().max(1024).optional(),
  MQTT_CA_FILE: z.string().min(1).optional(),
  MQTT_TLS_INSECURE: boolSetting.optional(),
  MQTT_TOPIC_PREFIX: z.string().pipe(Level).optional(),
  MQTT_CLIENT_ID: z.string().trim().min(1).max(128).regex(/^[\x21-\x7e]+$/, "printable ASCII, no spaces").optional(),
  MQTT_DISCOVERY: boolSetting.optional(),
  MQTT_DISCOVERY_PREFIX: z.string().pipe(Level).optional(),
  MQTT_MAX_QUEUE: z.coerce.number().int().min(1).max(1_000_000).optional(),
});

export interface MqttConfig {
  url: string;
  username?: string;
  password?: string;
  /** PEM text of the CA (read from MQTT_CA_FILE at start). */
  ca?: string;
  rejectUnauthorized: boolean;
  topicPrefix: string;
  clientId: string;
  discovery: boolean;
  discoveryPrefix: string;
  maxQueue: number;
}

/** null when MQTT_URL is not set (no MQTT output). */
export function loadMqttConfig(env: Record<string, string | undefined>, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): MqttConfig | null {
  if (!env.MQTT_URL?.trim()) return null;
  const picked = Object.fromEntries(Object.keys(EnvSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === "" ? [] : [[k, env[k]]])));
  const parsed = EnvSchema.safeParse(picked);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0])}=${JSON.stringify(i.path[0] === "MQTT_PASSWORD" ? "***" : picked[String(i.path[0])])}: ${i.message}`));
  }
  const e = parsed.data;
  let ca: string | undefined;
  if (e.MQTT_CA_FILE) {
    try {
      ca = readFile(e.MQTT_CA_FILE);
    } catch (error) {
      throw new ConfigError([`MQTT_CA_FILE=${JSON.stringify(e.MQTT_CA_FILE)}: cannot be read (${(error as Error).message})`]);
    }
  }
  return {
    url: e.MQTT_URL,
    ...(e.MQTT_USERNAME !== undefined ? { username: e.MQTT_USERNAME } : {}),
    ...(e.MQTT_PASSWORD !== undefined ? { password: e.MQTT_PASSWORD } : {}),
    ...(ca !== undefined ? { ca } : {}),
    rejectUnauthorized: !(e.MQTT_TLS_INSECURE ?? false),
    topicPrefix: e.MQTT_TOPIC_PREFIX ?? "facegate",
    clientId: e.MQTT_CLIENT_ID ?? `facegate-${hostname().replace(/[^\x21-\x7e]/g, "") || "server"}`.slice(0, 128),
    discovery: e.MQTT_DISCOVERY ?? true,
    discoveryPrefix: e.MQTT_DISCOVERY_PREFIX ?? "homeassistant",
    maxQueue: e.MQTT_MAX_QUEUE ?? 10_000,
  };
}
