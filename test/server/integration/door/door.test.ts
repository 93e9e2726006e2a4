/**
 * The door with real parts: a local relay (Bun.serve) that fails, hangs or answers; a real
 * mosquitto for the MQTT action and Home Assistant's unlock. Timings (bench:door) are not asserted here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { Webhook } from "standardwebhooks";
import type { IdentifiedEvent } from "../../../../lib/core/mod.ts";
import { ConfigError } from "../../../../server/config/server.ts";
import { DoorController, loadDoorRules, ruleFor, type DoorOutcome } from "../../../../server/integration/door/mod.ts";
import { loadMqttConfig, MqttOutput } from "../../../../server/integration/mqtt/mod.ts";
import { loadSiteConfig } from "../../../../server/integration/site.ts";
import { startMosquitto, type Mosquitto } from "../../../helpers/mosquitto.ts";
import { describeWithTools } from "../../../helpers/tools.ts";

const SECRET = "whsec_ZG9vci10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5";

function relay(answer: (n: number) => number | "hang") {
  const got: Array<{ headers: Record<string, string>; body: string }> = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      got.push({ headers: Object.fromEntries(req.headers), body: await req.text() });
      const a = answer(got.length);
      if (a === "hang") await new Promise((r) => setTimeout(r, 5000));
      return new Response("", { status: a === "hang" ? 200 : a });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/open`, got, stop: () => server.stop(true) };
}

const identified = (kioskId = "front"): IdentifiedEvent => ({ type: "identified", companyId: "acme", userId: "ada", name: "Ada Lovelace", confidence: 0.8, bbox: [1, 2, 3, 4], at: new Date().toISOString(), sessionId: "s1", kioskId });
const timing = () => ({ frameAt: performance.now() - 40, decidedAt: performance.now() });

describe("door rules", () => {
  test("DOORS / DOORS_FILE, validated; the most specific rule wins", () => {
    expect(loadDoorRules({})).toEqual([]);
    const rules = loadDoorRules({ DOORS: JSON.stringify([{ company: "acme", http: { url: "http://r/1" } }, { company: "acme", kiosk: "back", http: { url: "http://r/2" } }]) });
    expect(ruleFor(rules, "acme", "back")?.http?.url).toBe("http://r/2");
    expect(ruleFor(rules, "acme", "front")?.http?.url).toBe("http://r/1");
    expect(ruleFor(rules, "acme", null)?.http?.url).toBe("http://r/1");
    expect(ruleFor(rules, "beta", "back")).toBeUndefined();
    expect(rules[0].http).toMatchObject({ timeout_ms: 2000, retries: 2, budget_ms: 5000 });
    expect(loadDoorRules({ DOORS_FILE: "/x.json" }, () => '[{"company":"a","mqtt":{}}]')[0].mqtt).toEqual({});
    for (const bad of ["not json", '[{"company":"a"}]', '[{"company":"a","http":{"url":"ftp://x"}}]', '[{"company":"a","http":{"url":"http://x"},"mqtt":{}}]', '[{"company":"a","http":{"url":"http://x","typo":1}}]']) {
      expect(() => loadDoorRules({ DOORS: bad })).toThrow(ConfigError);
    }
    expect(() => loadSiteConfig({ DOORS: '[{"company":"a","mqtt":{}}]' })).toThrow(/needs MQTT_URL/);
  });
});

describe("door: HTTP relay", () => {
  test("signed (both signatures), retried with the same id after a failure", async () => {
    const r = relay((n) => (n === 1 ? 503 : 200));
    const outcomes: DoorOutcome[] = [];
    const door = new DoorController({ rules: loadDoorRules({ DOORS: JSON.stringify([{ company: "acme", http: { url: r.url, secret: SECRET } }]) }), onOutcome: (o) => outcomes.push(o) });
    const out = await door.identified(identified(), timing());
    expect(out).toMatchObject({ ok: true, attempts: 2, via: "http", reason: "identified", userId: "ada" });
    expect(out!.decisionToSentMs).toBeGreaterThan(0);
    expect(out!.frameToDecisionMs).toBeGreaterThanOrEqual(39);
    expect(r.got).toHaveLength(2);
    expect(r.got[0].headers["webhook-id"]).toBe(r.got[1].headers["webhook-id"]);
    expect(r.got[1].headers["facegate-delivery-attempt"]).toBe("2");
    const body = new Webhook(SECRET).verify(r.got[1].body, r.got[1].headers) as Record<string, unknown>;
    expect(body).toMatchObject({ type: "door.open", company_id: "acme", kiosk_id: "front", user_id: "ada", name: "Ada Lovelace" });
    expect(outcomes).toHaveLength(1);
    expect(door.metrics()[0].values.find((v) => v.labels?.via === "http" && v.labels?.outcome === "sent")!.value).toBe(1);
    // a kiosk of another company has no door
    expect(door.identified({ ...identified(), companyId: "beta" }, timing())).toBeNull();
    door.close();
    await r.stop();
  });

  test("a relay that hangs: each attempt times out, and no attempt starts after the budget", async () => {
    const r = relay(() => "hang");
    const door = new DoorController({ rules: loadDoorRules({ DOORS: JSON.stringify([{ company: "acme", http: { url: r.url, timeout_ms: 100, retries: 5, budget_ms: 400 } }]) }) });
    const started = performance.now();
    const out = await door.identified(identified(), timing());
    const took = performance.now() - started;
    expect(out).toMatchObject({ ok: false, via: "http" });
    expect(out!.error).toMatch(/timed out after 100 ms/);
    expect(out!.attempts).toBeGreaterThanOrEqual(2);
    expect(out!.attempts).toBeLessThan(6);
    expect(took).toBeLessThan(1500);
    expect(door.metrics()[0].values.find((v) => v.labels?.via === "http" && v.labels?.outcome === "failed")!.value).toBe(1);
    door.close();
    await r.stop();
  });
});

describeWithTools(["mosquitto"], "door: MQTT command and Home Assistant's lock (real mosquitto)", () => {
  let broker: Mosquitto;
  let sub: MqttClient;
  const got: Array<{ topic: string; text: string }> = [];
  let output: MqttOutput | undefined;
  beforeAll(async () => {
    broker = await startMosquitto();
    sub = mqtt.connect(broker.url, { protocolVersion: 4 });
    sub.on("message", (topic, p) => got.push({ topic, text: p.toString() }));
    await new Promise<void>((resolve) => sub.once("connect", () => resolve()));
    await sub.subscribeAsync(["door/#", "relay/#"], { qos: 1 });
  });
  afterAll(async () => {
    await output?.close(0);
    await sub?.endAsync(true);
    await broker?.cleanup();
  });

  test("identified → the MQTT command (default topic and payload, or the rule's); Home Assistant's UNLOCK runs the action; the lock's state follows", async () => {
    let door: DoorController | undefined;
    output = new MqttOutput({ config: loadMqttConfig({ MQTT_URL: broker.url, MQTT_TOPIC_PREFIX: "door", MQTT_CLIENT_ID: "door-test" })!, version: "t", onDoorCommand: (c, k, cmd) => door?.command(c, k, cmd) });
    const rules = loadDoorRules({ DOORS: JSON.stringify([{ company: "acme", kiosk: "front", mqtt: {}, open_ms: 200 }, { company: "acme", kiosk: "side", mqtt: { topic: "relay/side/set", payload: '{"state":"ON"}' } }]) });
    door = new DoorController({ rules, mqtt: output });
    const out = await door.identified(identified("front"), timing());
    expect(out).toMatchObject({ ok: true, via: "mqtt" });
    await door.identified(identified("side"), timing());
    const until = async (f: () => boolean, what: string) => {
      const end = Date.now() + 5000;
      while (!f()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await Bun.sleep(10);
      }
    };
    await until(() => got.some((g) => g.topic === "door/acme/front/door/command") && got.some((g) => g.topic === "relay/side/set"), "commands");
    expect(JSON.parse(got.find((g) => g.topic === "door/acme/front/door/command")!.text)).toMatchObject({ type: "door.open", user_id: "ada", kiosk_id: "front" });
    expect(got.find((g) => g.topic === "relay/side/set")!.text).toBe('{"state":"ON"}');
    // UNLOCKED, then LOCKED after open_ms
    await until(() => got.filter((g) => g.topic === "door/acme/front/door/state").map((g) => g.text).join(",") === "UNLOCKED,LOCKED", "state UNLOCKED then LOCKED");
    // Home Assistant unlocks the side door: the action runs again (reason home_assistant)
    const before = got.filter((g) => g.topic === "relay/side/set").length;
    await sub.publishAsync("door/acme/side/door/set", "UNLOCK", { qos: 1 });
    await until(() => got.filter((g) => g.topic === "relay/side/set").length === before + 1, "the action from Home Assistant");
    door.close();
  });
});
