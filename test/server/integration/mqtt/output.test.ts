/**
 * The MQTT output against a real mosquitto (Debian's, started by the test): messages per company
 * and kiosk, retained status / last person / door state, Home Assistant discovery payloads checked
 * against the documented schema, door commands from Home Assistant, and QoS 1 delivery across a
 * broker restart (messages produced while the broker is down, and messages a persistent
 * subscriber missed while it was away).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import type { EventRecord } from "../../../../lib/core/mod.ts";
import { loadMqttConfig, MqttOutput, type DoorCommand } from "../../../../server/integration/mqtt/mod.ts";
import { startMosquitto, type Mosquitto } from "../../../helpers/mosquitto.ts";
import { describeWithTools } from "../../../helpers/tools.ts";
import { DiscoveryTopic, LockConfig, SensorConfig } from "./ha-discovery-schema.ts";

async function until(check: () => boolean, ms = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Got {
  topic: string;
  text: string;
  retain: boolean;
}

/** A subscriber; `clientId` + clean:false makes its session (and QoS 1 subscription) persistent. */
async function subscriber(url: string, filter: string, clientId?: string): Promise<{ client: MqttClient; got: Got[] }> {
  const got: Got[] = [];
  const client = mqtt.connect(url, { clientId: clientId ?? `t-${crypto.randomUUID().slice(0, 8)}`, clean: !clientId, protocolVersion: 4, reconnectPeriod: 200 });
  // before the connection: a persistent session's stored messages come right after CONNACK
  client.on("message", (topic, payload, packet) => got.push({ topic, text: payload.toString(), retain: packet.retain }));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

let seq = 0;
function record(over: Partial<EventRecord> = {}): EventRecord {
  seq++;
  return {
    type: "identified",
    id: `01JZZZZZZZZZZZZZZZZZZZ${String(seq).padStart(4, "0")}`,
    at: new Date().toISOString(),
    companyId: "acme",
    userId: "ada",
    confidence: 0.81,
    threshold: 0.3,
    kioskId: "front door",
    source: "kiosk",
    frames: 3,
    sessionId: "s1",
    ...over,
  };
}

describeWithTools(["mosquitto"], "MQTT output (real mosquitto)", () => {
  let broker: Mosquitto;
  const outputs: MqttOutput[] = [];
  const clients: MqttClient[] = [];
  const output = (over: Record<string, string> = {}, onDoorCommand?: (c: string, k: string, cmd: DoorCommand) => void) => {
    const config = loadMqttConfig({ MQTT_URL: broker.url, MQTT_CLIENT_ID: `facegate-test-${++seq}`, ...over })!;
    const o = new MqttOutput({ config, version: "0.1.0-test", onDoorCommand });
    outputs.push(o);
    return o;
  };
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    for (const o of outputs) await o.close(0).catch(() => {});
    await broker?.cleanup();
  });

  test("identified, unknown and not_live go to their kiosk's topics as JSON; status, last person and door state are retained", async () => {
    const sub = await subscriber(broker.url, "site/#");
    clients.push(sub.client);
    const o = output({ MQTT_TOPIC_PREFIX: "site", MQTT_DISCOVERY: "off" });
    await until(() => o.connected, 10_000, "connected");
    const id = record({ name: "Ada Lovelace" });
    o.event(id);
    o.event(record({ type: "unknown", userId: null, confidence: 0.12, kioskId: "front door" }));
    o.event(record({ kioskId: null, source: "api", userId: "bob" }));
    o.notLive({ type: "not_live", companyId: "acme", bbox: [1, 2, 3, 4], at: new Date().toISOString(), sessionId: "s1", kioskId: "front door", frames: 8, liveness: { state: "flat" } });
    o.doorState("acme", "front door", "UNLOCKED");
    await until(() => sub.got.length >= 7, 10_000, "7 messages");
    const byTopic = (t: string) => sub.got.filter((g) => g.topic === t);
    expect(byTopic("site/status").map((g) => g.text)).toEqual(["online"]);
    const identified = JSON.parse(byTopic("site/acme/front%20door/identified")[0].text);
    expect(identified).toMatchObject({ type: "identified", id: id.id, company_id: "acme", user_id: "ada", kiosk_id: "front door", confidence: 0.81, frames: 3 });
    expect(JSON.parse(byTopic("site/acme/front%20door/unknown")[0].text)).toMatchObject({ type: "unknown", user_id: null, confidence: 0.12 });
    expect(JSON.parse(byTopic("site/acme/_/identified")[0].text)).toMatchObject({ user_id: "bob", kiosk_id: null, source: "api" });
    expect(JSON.parse(byTopic("site/acme/front%20door/not_live")[0].text)).toMatchObject({ type: "not_live", kiosk_id: "front door", frames: 8, liveness: { state: "flat" } });
    expect(JSON.parse(byTopic("site/acme/front%20door/last_person")[0].text)).toMatchObject({ user_id: "ada", name: "Ada Lovelace", event_id: id.id });
    expect(identified.name).toBe("Ada Lovelace");
    expect(byTopic("site/acme/front%20door/door/state")[0].text).toBe("UNLOCKED");
    // a subscriber that comes later gets the retained ones at once (and nothing else)
    const late = await subscriber(broker.url, "site/#");
    clients.push(late.client);
    await until(() => late.got.length >= 3, 5000, "retained messages");
    await new Promise((r) => setTimeout(r, 200));
    expect(late.got.every((g) => g.retain)).toBe(true);
    expect(late.got.map((g) => g.topic).sort()).toEqual(["site/acme/front%20door/door/state", "site/acme/front%20door/last_person", "site/status"]);
    // closing says offline (retained)
    await o.close();
    await until(() => sub.got.some((g) => g.topic === "site/status" && g.text === "offline"), 5000, "offline");
  });

  test("Home Assistant discovery: a device per kiosk with a Last person sensor and a Door lock, valid against the documented schema; door commands come back", async () => {
    const sub = await subscriber(broker.url, "homeassistant/#");
    clients.push(sub.client);
    const commands: string[] = [];
    const o = output({ MQTT_TOPIC_PREFIX: "ha1" }, (c, k, cmd) => commands.push(`${c}|${k}|${cmd}`));
    o.kioskSeen("acme", "lobby/2");
    o.kioskSeen("acme", "lobby/2"); // once
    o.kioskSeen("beta", "lobby/2");
    await until(() => sub.got.filter((g) => g.topic.endsWith("/config")).length >= 4, 10_000, "4 discovery configs");
    const configs = sub.got.filter((g) => g.topic.endsWith("/config"));
    expect(configs).toHaveLength(4);
    const uniqueIds = new Set<string>();
    // retained: Home Assistant starting later still finds them
    const late = await subscriber(broker.url, "homeassistant/+/+/+/config");
    clients.push(late.client);
    await until(() => late.got.length >= 4, 5000, "retained configs");
    expect(late.got.every((g) => g.retain)).toBe(true);
    for (const c of configs) {
      expect(DiscoveryTopic.safeParse(c.topic).success).toBe(true);
      const payload = JSON.parse(c.text);
      const schema = c.topic.includes("/lock/") ? LockConfig : SensorConfig;
      const checked = schema.safeParse(payload);
      if (!checked.success) throw new Error(`${c.topic}: ${checked.error.message}`);
      expect(payload.availability).toEqual([{ topic: "ha1/status", payload_available: "online", payload_not_available: "offline" }]);
      uniqueIds.add(payload.unique_id);
    }
    expect(uniqueIds.size).toBe(4); // two kiosks × two entities, distinct across companies
    const lock = JSON.parse(configs.find((c) => c.topic.includes("/lock/") && c.text.includes('"acme"') === false && c.text.includes("(acme)"))!.text);
    expect(lock).toMatchObject({ command_topic: "ha1/acme/lobby%2F2/door/set", state_topic: "ha1/acme/lobby%2F2/door/state", payload_unlock: "UNLOCK" });
    // Home Assistant unlocks the door
    await sub.client.publishAsync(lock.command_topic, "UNLOCK", { qos: 1 });
    await sub.client.publishAsync(lock.command_topic, "garbage", { qos: 1 });
    await until(() => commands.length >= 1, 5000, "door command");
    expect(commands).toEqual(["acme|lobby/2|UNLOCK"]);
    // Home Assistant restarts (birth message): the configs are announced again
    const before = sub.got.length;
    await sub.client.publishAsync("homeassistant/status", "online", { qos: 1 });
    await until(() => sub.got.slice(before).filter((g) => g.topic.endsWith("/config")).length >= 4, 5000, "re-announced");
  });

  test("QoS 1 across a broker restart: messages produced while it is down, and those a persistent subscriber missed, all arrive", async () => {
    const o = output({ MQTT_TOPIC_PREFIX: "dur", MQTT_DISCOVERY: "off" });
    await until(() => o.connected, 10_000, "connected");
    // a persistent subscriber (clean: false, a fixed id) that then goes away
    const away = await subscriber(broker.url, "dur/+/+/identified", "durable-sub");
    await away.client.endAsync();
    const ids: string[] = [];
    const emit = () => {
      const r = record({ kioskId: "k" });
      ids.push(r.id);
      o.event(r);
    };
    for (let i = 0; i < 3; i++) emit(); // the broker holds these for the absent subscriber
    await until(() => o.queued === 0, 5000, "acknowledged by the broker");
    await broker.stop();
    await until(() => !o.connected, 5000, "disconnected");
    for (let i = 0; i < 3; i++) emit(); // produced while the broker is down: queued in the client
    expect(o.queued).toBeGreaterThanOrEqual(3);
    await broker.restart();
    await until(() => o.connected && o.queued === 0, 15_000, "queue flushed after the restart");
    const back = await subscriber(broker.url, "dur/+/+/identified", "durable-sub");
    clients.push(back.client);
    await until(() => new Set(back.got.map((g) => JSON.parse(g.text).id)).size >= 6, 10_000, `all six messages (got ${JSON.stringify(back.got.map((g) => JSON.parse(g.text).id))} of ${JSON.stringify(ids)})`);
    const got = back.got.map((g) => JSON.parse(g.text).id as string);
    expect([...new Set(got)].sort()).toEqual([...ids].sort());
    expect(o.metrics().find((m) => m.name === "facegate_mqtt_messages_total")!.values.find((v) => v.labels?.outcome === "dropped")!.value).toBe(0);
  });

  test("a full queue drops new messages (counted) instead of growing without bound", async () => {
    const o = output({ MQTT_URL: "mqtt://127.0.0.1:9", MQTT_MAX_QUEUE: "2", MQTT_DISCOVERY: "off" });
    for (let i = 0; i < 5; i++) o.event(record({ kioskId: null }));
    expect(o.queued).toBe(2);
    const dropped = o.metrics().find((m) => m.name === "facegate_mqtt_messages_total")!.values.find((v) => v.labels?.outcome === "dropped")!.value;
    expect(dropped).toBe(3);
  });
});

describe("MQTT settings", () => {
  test("unset is off; bad values are named", () => {
    expect(loadMqttConfig({})).toBeNull();
    expect(loadMqttConfig({ MQTT_URL: "mqtt://h:1883" })).toMatchObject({ topicPrefix: "facegate", discovery: true, discoveryPrefix: "homeassistant", rejectUnauthorized: true });
    expect(() => loadMqttConfig({ MQTT_URL: "http://h" })).toThrow(/MQTT_URL/);
    expect(() => loadMqttConfig({ MQTT_URL: "mqtt://h", MQTT_TOPIC_PREFIX: "a/#" })).toThrow(/MQTT_TOPIC_PREFIX/);
    expect(() => loadMqttConfig({ MQTT_URL: "mqtts://h", MQTT_CA_FILE: "/nonexistent/ca.pem" })).toThrow(/MQTT_CA_FILE/);
    expect(loadMqttConfig({ MQTT_URL: "mqtts://h", MQTT_CA_FILE: "ca.pem" }, () => "PEM")).toMatchObject({ ca: "PEM" });
  });
});
