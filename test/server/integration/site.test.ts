/**
 * A site end to end, with the real server process (`bun server/main.ts`, embedded), a real
 * mosquitto, a webhook receiver and a door relay: a kiosk session streaming the Hamilton frames
 * at a company where the performer is not enrolled records one `unknown` event per track that
 * stayed unknown, delivered by SSE, webhook and MQTT; at a company where he is enrolled the door
 * relay is called once for the one identification, signed, and MQTT carries the identification,
 * the last person and the door state.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { Webhook } from "standardwebhooks";
import { dataset, describeDatasets, listDataset } from "../../helpers/datasets.ts";
import { startMosquitto, type Mosquitto } from "../../helpers/mosquitto.ts";
import { startServerProcess, type ServerProcess } from "../../helpers/server-process.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { hamiltonFrame, readyClient } from "../kiosk/harness.ts";
import { b64, call } from "../harness.ts";

const ADMIN = "k-admin-0123456789";
const DOOR_SECRET = "whsec_c2l0ZS10ZXN0LWRvb3Itc2VjcmV0LTAxMjM0NTY3";
const HOOK_SECRET = "site-hook-secret-0123";

async function until(check: () => boolean | Promise<boolean>, ms = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Request {
  headers: Record<string, string>;
  body: string;
}

function receiver() {
  const got: Request[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      got.push({ headers: Object.fromEntries(req.headers), body: await req.text() });
      return new Response("ok");
    },
  });
  return { url: `http://127.0.0.1:${server.port}/`, got, stop: () => server.stop(true) };
}

describeWithTools(
  ["mosquitto"],
  "a site: stranger events, MQTT and the door (server process, the kiosk frames)",
  () => {
    let broker: Mosquitto;
    let server: ServerProcess | undefined;
    let sub: MqttClient;
    const messages: Array<{ topic: string; text: string }> = [];
    const hook = receiver();
    const relay = receiver();
    let dir = "";

    beforeAll(async () => {
      broker = await startMosquitto();
      sub = mqtt.connect(broker.url, { protocolVersion: 4 });
      sub.on("message", (topic, payload) => messages.push({ topic, text: payload.toString() }));
      await new Promise<void>((resolve) => sub.once("connect", () => resolve()));
      await sub.subscribeAsync("fg/#", { qos: 1 });
      dir = mkdtempSync(join(tmpdir(), "facegate-site-"));
      server = await startServerProcess({
        DATA_DIR: dir,
        API_KEYS: JSON.stringify({ [ADMIN]: ["*"] }),
        STRANGER_EVENTS_COMPANIES: "lobby",
        STRANGER_EVENTS_PER_MINUTE: "100",
        MQTT_URL: broker.url,
        MQTT_TOPIC_PREFIX: "fg",
        MQTT_CLIENT_ID: "facegate-site-test",
        DOORS: JSON.stringify([{ company: "ham", kiosk: "stage-door", http: { url: relay.url, secret: DOOR_SECRET } }]),
      });
      const portrait = b64(new Uint8Array(readFileSync(dataset("labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png"))));
      const other = b64(new Uint8Array(readFileSync(dataset("labelled/face_recognition/obama", listDataset("labelled/face_recognition/obama").find((f) => /\.(jpe?g|png)$/i.test(f))!))));
      for (const company of ["ham", "lobby"]) expect((await call(server.url, "POST", "/v1/companies", { key: ADMIN, json: { company_id: company } })).status).toBe(201);
      expect((await call(server.url, "POST", "/v1/companies/ham/users", { key: ADMIN, json: { user_id: "lin", name: "Lin-Manuel Miranda", face_id: "p", image: portrait } })).status).toBe(201);
      // the lobby knows someone else: the performer is a stranger there
      expect((await call(server.url, "POST", "/v1/companies/lobby/users", { key: ADMIN, json: { user_id: "obama", face_id: "p", image: other } })).status).toBe(201);
      expect((await call(server.url, "PUT", "/v1/companies/lobby/webhook", { key: ADMIN, json: { url: hook.url, secret: HOOK_SECRET } })).status).toBe(200);
    }, 120_000);

    afterAll(async () => {
      await server?.stop("SIGKILL");
      await sub?.endAsync(true).catch(() => {});
      await broker?.cleanup();
      await hook.stop();
      await relay.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("a person not enrolled: one unknown event per track, by SSE, webhook and MQTT", async () => {
      const url = server!.url;
      const feed = await fetch(`${url}/v1/companies/lobby/events/stream`, { headers: { "X-API-Key": ADMIN } });
      const reader = feed.body!.getReader();
      const ws = new URL("/v1/kiosk/ws", url.replace(/^http/, "ws"));
      ws.search = new URLSearchParams({ company: "lobby", key: ADMIN, kiosk: "lobby-1" }).toString();
      const c = await readyClient(ws.toString());
      for (let n = 19; n <= 39; n++) {
        c.sendFrame(hamiltonFrame(n));
        await c.next("result");
      }
      c.close();
      // the tracks the kiosk itself showed as unknown (a track may become unknown once)
      const unknownTracks = new Set(c.of("result").flatMap((r) => r.faces.filter((f) => f.state === "unknown").map((f) => f.track)));
      expect(unknownTracks.size).toBeGreaterThanOrEqual(1);
      expect(c.of("identified")).toHaveLength(0);

      const listed = async () => (await call(url, "GET", "/v1/companies/lobby/events?type=unknown", { key: ADMIN })).body.events as Array<Record<string, unknown>>;
      await until(async () => (await listed()).length >= unknownTracks.size, 10_000, "unknown events listed");
      await new Promise((r) => setTimeout(r, 300)); // nothing more comes
      const events = await listed();
      expect(events).toHaveLength(unknownTracks.size);
      for (const e of events) {
        expect(e).toMatchObject({ type: "unknown", user_id: null, company_id: "lobby", kiosk_id: "lobby-1", source: "kiosk" });
        expect(e.confidence as number).toBeLessThan(e.threshold as number);
        expect(e.frames as number).toBeGreaterThanOrEqual(5);
        expect(e).not.toHaveProperty("embedding");
      }
      // SSE: `event: unknown`, the same ids
      let text = "";
      const deadline = Date.now() + 10_000;
      while ((text.match(/^event: unknown$/gm) ?? []).length < events.length && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      await reader.cancel();
      const sse = [...text.matchAll(/^id: (\S+)\nevent: unknown\n/gm)].map((m) => m[1]);
      expect(sse.sort()).toEqual(events.map((e) => e.id as string).sort());
      // the webhook, verified with the Standard Webhooks library
      await until(() => hook.got.length >= events.length, 10_000, "webhook deliveries");
      const delivered = hook.got.map((g) => new Webhook(HOOK_SECRET, { format: "raw" }).verify(g.body, g.headers) as { id: string; type: string });
      expect(delivered.map((d) => d.type)).toEqual(events.map(() => "unknown"));
      expect(delivered.map((d) => d.id).sort()).toEqual(events.map((e) => e.id as string).sort());
      // MQTT, on the kiosk's unknown topic
      await until(() => messages.filter((m) => m.topic === "fg/lobby/lobby-1/unknown").length >= events.length, 10_000, "MQTT unknown messages");
      const viaMqtt = messages.filter((m) => m.topic === "fg/lobby/lobby-1/unknown").map((m) => JSON.parse(m.text).id as string);
      expect(viaMqtt.sort()).toEqual(events.map((e) => e.id as string).sort());
      // Home Assistant discovery announced the kiosk when its session started
      expect(messages.some((m) => /^fg\/status$/.test(m.topic) && m.text === "online")).toBe(true);
    }, 120_000);

    test("the door: one signed relay call per identification; MQTT carries it, the last person and the door state; no stranger events where they are off", async () => {
      const url = server!.url;
      const ws = new URL("/v1/kiosk/ws", url.replace(/^http/, "ws"));
      ws.search = new URLSearchParams({ company: "ham", key: ADMIN, kiosk: "stage-door" }).toString();
      const c = await readyClient(ws.toString());
      // the performer, then the audience (strangers here, but ham does not record them)
      for (let n = 19; n <= 50; n++) {
        c.sendFrame(hamiltonFrame(n));
        await c.next("result");
      }
      c.close();
      expect(c.of("identified")).toHaveLength(1);
      expect(c.of("result").some((r) => r.faces.some((f) => f.state === "unknown"))).toBe(true);
      await until(() => relay.got.length >= 1, 10_000, "the relay call");
      await new Promise((r) => setTimeout(r, 300));
      expect(relay.got).toHaveLength(1);
      const call1 = relay.got[0];
      const body = new Webhook(DOOR_SECRET).verify(call1.body, call1.headers) as Record<string, unknown>;
      expect(body).toMatchObject({ type: "door.open", reason: "identified", company_id: "ham", kiosk_id: "stage-door", user_id: "lin", name: "Lin-Manuel Miranda" });
      await until(() => messages.some((m) => m.topic === "fg/ham/stage-door/door/state" && m.text === "UNLOCKED"), 10_000, "door state");
      const identified = messages.filter((m) => m.topic === "fg/ham/stage-door/identified").map((m) => JSON.parse(m.text));
      expect(identified).toHaveLength(1);
      expect(identified[0]).toMatchObject({ type: "identified", user_id: "lin", kiosk_id: "stage-door" });
      expect(JSON.parse(messages.find((m) => m.topic === "fg/ham/stage-door/last_person")!.text)).toMatchObject({ user_id: "lin", event_id: identified[0].id });
      // ham does not record strangers (the audience frames would have been strangers)
      const ham = (await call(url, "GET", "/v1/companies/ham/events", { key: ADMIN })).body.events as Array<{ type: string }>;
      expect(ham.map((e) => e.type)).toEqual(["identified"]);
      const metrics = (await call(url, "GET", "/metrics", { key: ADMIN })).text as string;
      expect(metrics).toMatch(/facegate_door_actions_total\{via="http",outcome="sent"\} 1/);
      expect(metrics).toMatch(/facegate_mqtt_connected 1/);
    }, 120_000);
  },
  describeDatasets,
);
