/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * each kiosk is a device with a "Last person" sensor and a "Door" lock, published retained to
 * `<discovery prefix>/<component>/<node id>/<object id>/config`. Every entity names the server's
 * availability topic (online/offline, the connection's will), so Home Assistant shows the kiosk
 * unavailable when facegate is gone. Pure: payloads in, no client here.
 */
import { createHash } from "node:crypto";
import type { Topics } from "./topics.ts";

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** Home Assistant's lock payloads (its defaults, written out so the payload says what it means). */
export const LOCK = { lock: "LOCK", unlock: "UNLOCK", locked: "LOCKED", unlocked: "UNLOCKED" } as const;

/** `[a-zA-Z0-9_-]` only (Home Assistant's rule for node and object ids), unique per company and kiosk. */
export function nodeId(companyId: string, kioskId: string): string {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 24) || "x";
  const hash = createHash("sha256").update(`${companyId}\u0000${kioskId}`).digest("hex").slice(0, 8);
  return `facegate_${slug(companyId)}_${slug(kioskId)}_${hash}`;
}

export function discoveryMessages(o: { topics: Topics; discoveryPrefix: string; companyId: string; kioskId: string; version: string }): DiscoveryMessage[] {
  const node = nodeId(o.companyId, o.kioskId);
  const common = {
    device: {
      identifiers: [node],
      name: `${o.kioskId} (${o.companyId})`,
      manufacturer: "facegate",
      model: "Face recognition kiosk",
      sw_version: o.version,
    },
    origin: { name: "facegate", sw_version: o.version },
    availability: [{ topic: o.topics.status, payload_available: "online", payload_not_available: "offline" }],
  };
  return [
    {
      topic: `${o.discoveryPrefix}/sensor/${node}/last_person/config`,
      payload: {
        name: "Last person",
        unique_id: `${node}_last_person`,
        state_topic: o.topics.lastPerson(o.companyId, o.kioskId),
        // the display name when the person has one, else the id; the rest as attributes
        value_template: "{{ value_json.name if value_json.name else value_json.user_id }}",
        json_attributes_topic: o.topics.lastPerson(o.companyId, o.kioskId),
        icon: "mdi:account-check",
        ...common,
      },
    },
    {
      topic: `${o.discoveryPrefix}/lock/${node}/door/config`,
      payload: {
        name: "Door",
        unique_id: `${node}_door`,
        command_topic: o.topics.doorSet(o.companyId, o.kioskId),
        state_topic: o.topics.doorState(o.companyId, o.kioskId),
        payload_lock: LOCK.lock,
        payload_unlock: LOCK.unlock,
        state_locked: LOCK.locked,
        state_unlocked: LOCK.unlocked,
        optimistic: false,
        qos: 1,
        ...common,
      },
    },
  ];
}
