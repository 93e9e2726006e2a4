/**
 * NATS mode: the kiosk talks to a FaceClient (requests served by a FaceWorker over a real
 * nats-server) and publishes `identified` to JetStream through NatsEventSink; the session code is
 * the same as embedded, only the FaceApi and the sink differ.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { IdentifiedEvent } from "../../../lib/core/mod.ts";
import { FaceClient, FaceWorker, consumeEvents } from "../../../lib/nats/mod.ts";
import { LazyNatsEventSink, eventSinkFromEnv } from "../../../server/kiosk/mod.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { HAM_KEY, PERFORMER, hamiltonFrame, readyClient, sharedService, startKioskStack, type KioskStack } from "./harness.ts";

describeWithTools(["nats-server"], "kiosk in NATS mode", () => {
  let nats: NatsServer;
  let workerNc: NatsConnection;
  let worker: FaceWorker;
  let client: FaceClient;
  let stack: KioskStack;
  let sink: LazyNatsEventSink;

  beforeAll(async () => {
    const service = await sharedService();
    nats = await startTestNatsServer();
    workerNc = await connect({ servers: nats.url });
    worker = await FaceWorker.start({ nc: workerNc, api: service, log: () => {} });
    client = await FaceClient.connect({ servers: nats.url, env: {} });
    // The gateway's sink, as server/main.ts gets it from the environment.
    const fromEnv = eventSinkFromEnv({ NATS_URL: nats.url, NATS_EVENTS_STREAM: "KIOSK_TEST_EVENTS" });
    expect(fromEnv).toBeInstanceOf(LazyNatsEventSink);
    sink = fromEnv as LazyNatsEventSink;
    stack = await startKioskStack({ api: client, sink });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await client?.close();
    await sink?.close();
    await worker?.drain().catch(() => {});
    await workerNc?.close().catch(() => {});
    await nats?.cleanup();
  });

  test("frames go through the worker; the identification lands on the JetStream stream", async () => {
    const received: IdentifiedEvent[] = [];
    const consumer = await consumeEvents({
      nc: client.nc,
      stream: "KIOSK_TEST_EVENTS",
      durable: "kiosk-test",
      companyId: "ham",
      handler: (e) => void received.push(e),
    });
    try {
      const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY, kiosk: "nats-door" }));
      const states: string[] = [];
      for (let n = 20; n <= 30; n++) {
        c.sendFrame(hamiltonFrame(n));
        states.push((await c.next("result")).faces[0]?.state ?? "none");
      }
      // The votes at the third frame, then the liveness check (landmarks come through the worker too).
      expect(states.slice(0, 2)).toEqual(["verifying", "verifying"]);
      expect(states).toContain("recognized");
      expect(c.of("identified").map((m) => m.userId)).toEqual([PERFORMER]);
      expect(c.of("identified")[0].liveness).toMatchObject({ state: "live" });
      // A bad frame over NATS: the same error, the session stays open.
      c.sendFrame(new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3, 0xff, 0xd9]));
      expect((await c.next("error")).code).toBe("INVALID_IMAGE");
      c.close();

      for (let i = 0; i < 100 && received.length < 1; i++) await Bun.sleep(100);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ type: "identified", companyId: "ham", userId: PERFORMER, kioskId: "nats-door" });
      expect(received[0].sessionId).toBe(c.of("ready")[0].sessionId);
      expect(received[0].liveness).toMatchObject({ mode: "passive", state: "live" });
    } finally {
      await consumer.stop();
    }
  }, 60_000);
}, describeDatasets);
