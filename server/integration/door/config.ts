/**
 * Door actions, per company and kiosk: `DOORS` (JSON) or `DOORS_FILE` (a JSON file), a list of
 *
 *   { "company": "acme", "kiosk": "front-door",          // kiosk omitted: every kiosk of the company
 *     "http": { "url": "https://relay.local/open", "secret": "whsec_...", "timeout_ms": 2000, "retries": 2, "budget_ms": 5000 },
 *     "open_ms": 5000 }
 *   { "company": "acme", "mqtt": { "topic": "zigbee2mqtt/door-relay/set", "payload": "{\"state\":\"ON\"}" } }
 *
 * One of `http` (a signed POST to a relay controller) or `mqtt` (a QoS 1 message; the topic
 * defaults to `<MQTT_TOPIC_PREFIX>/<company>/<kiosk>/door/command`, the payload to the JSON the
 * relay call sends). The most specific rule wins (company and kiosk, then company alone).
 * `open_ms`: how long the door entity shows UNLOCKED in Home Assistant after an action.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { IdSchema } from "../../../lib/core/mod.ts";
import { ConfigError } from "../../config/server.ts";

const HttpAction = z
  .object({
    url: z.string().refine((u) => {
      try {
        return ["http:", "https:"].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    }, "must be an http:// or https:// URL"),
    /** Signs the call like webhooks (Facegate-Signature and Standard Webhooks); absent: unsigned. */
    secret: z.string().min(16).max(256).optional(),
    /** Per attempt. */
    timeout_ms: z.number().int().min(50).max(30_000).default(2000),
    /** Attempts after the first, while the budget lasts. */
    retries: z.number().int().min(0).max(10).default(2),
    /** No attempt starts later than this after the decision (a door that opens a minute late is worse than none). */
    budget_ms: z.number().int().min(100).max(60_000).default(5000),
  })
  .strict();

const MqttAction = z
  .object({
    topic: z.string().min(1).max(512).regex(/^[^#+\u0000]+$/, "no wildcards").optional(),
    payload: z.string().max(65_536).optional(),
  })
  .strict();

export const DoorRuleSchema = z
  .object({
    company: IdSchema,
    kiosk: z.string().min(1).max(128).optional(),
    http: HttpAction.optional(),
    mqtt: MqttAction.optional(),
    open_ms: z.number().int().min(0).max(600_000).default(5000),
  })
  .strict()
  .refine((r) => (r.http === undefined) !== (r.mqtt === undefined), "a rule has exactly one of http or mqtt");
export type DoorRule = z.infer<typeof DoorRuleSchema>;

export const DoorRulesSchema = z.array(DoorRuleSchema).max(10_000);

/** The rules from DOORS or DOORS_FILE ([] when neither is set). */
export function loadDoorRules(env: Record<string, string | undefined>, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): DoorRule[] {
  const inline = env.DOORS?.trim();
  const file = env.DOORS_FILE?.trim();
  if (inline && file) throw new ConfigError(["DOORS and DOORS_FILE: set one of them"]);
  if (!inline && !file) return [];
  const name = inline ? "DOORS" : `DOORS_FILE=${JSON.stringify(file)}`;
  let json: unknown;
  try {
    json = JSON.parse(inline ?? readFile(file!));
  } catch (error) {
    throw new ConfigError([`${name}: ${(error as Error).message}`]);
  }
  const parsed = DoorRulesSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${name}: [${i.path.join(".")}] ${i.message}`));
  }
  return parsed.data;
}

/** The rule for a kiosk: company and kiosk, else the company's catch-all, else none. */
export function ruleFor(rules: readonly DoorRule[], companyId: string, kioskId: string | null | undefined): DoorRule | undefined {
  return (kioskId ? rules.find((r) => r.company === companyId && r.kiosk === kioskId) : undefined) ?? rules.find((r) => r.company === companyId && r.kiosk === undefined);
}
