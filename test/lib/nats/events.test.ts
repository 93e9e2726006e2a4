import { beforeAll, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { IdentifiedEvent } from "../../../lib/core/internal.ts";
import { NatsEventSink, consumeEvents, ensureEventStream, eventSubject } from "../../../lib/nats/events.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let nc: NatsConnection;

describeWithTools(["nats-server"], "NATS event stream", () => {
  const nats = useNatsServer();
  beforeAll(async () => {
    nc = nats.track(await connect({ servers: nats.url }));
  });

  const event = (companyId: string, userId: string, at: string): IdentifiedEvent => ({
    type: "identified",
    companyId,
    userId,
    confidence: 0.71,
    bbox: [1, 2, 30, 40],
    at,
    sessionId: "s1",
    kioskId: "front-door",
  });

  test("processes starting together (different retention) all get the one stream; none fails on the race", async () => {
    // two gateways and a worker starting at once: each sees no stream and adds it
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect({ servers: nats.url })));
    try {
      for (let round = 0; round < 5; round++) {
        const name = `EV_RACE_${round}`;
        const prefix = `race${round}`;
        const names = await Promise.all(
          conns.map((c, i) => ensureEventStream(c, { stream: name, subjectPrefix: prefix, maxAgeSeconds: (i + 1) * 86_400 })),
        );
        expect(names).toEqual([name, name, name, name]);
        expect((await (await jetstreamManager(nc)).streams.info(name)).config.subjects).toEqual([`${prefix}.events.>`]);
      }
    } finally {
      await Promise.all(conns.map((c) => c.close()));
    }
  });

  test("events land on the stream, per company subject, deduplicated, and a durable consumer gets them once", async () => {
    const sink = await NatsEventSink.create({ nc, stream: "EV_TEST" });
    await sink.publish(event("acme.inc", "jane", "2024-01-01T08:00:00.000Z"));
    await sink.publish(event("acme.inc", "jane", "2024-01-01T08:00:00.000Z")); // a retried publish: dropped
    await sink.publish(event("beta", "bob", "2024-01-01T08:00:01.000Z"));
    await sink.publish(event("acme.inc", "joe", "2024-01-01T08:00:02.000Z"));
    await expect(sink.publish({ ...event("acme.inc", "x", "t"), confidence: Number.NaN })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });

    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("EV_TEST");
    expect(info.state.messages).toBe(3);
    expect(eventSubject("acme.inc")).toBe("facegate.v1.events.YWNtZS5pbmM");

    // Attendance backend for one company; the handler fails once, the event comes again.
    const got: IdentifiedEvent[] = [];
    let failOnce = true;
    const consumer = await consumeEvents({
      nc,
      stream: "EV_TEST",
      durable: "attendance",
      companyId: "acme.inc",
      handler: (e) => {
        if (failOnce) {
          failOnce = false;
          throw new Error("database hiccup");
        }
        got.push(e);
      },
      onError: () => {},
    });
    for (let i = 0; i < 60 && got.length < 2; i++) await Bun.sleep(100);
    await consumer.stop();
    expect(got.map((e) => e.userId).sort()).toEqual(["jane", "joe"]);
    expect(got[0]!.kioskId).toBe("front-door");

    // The durable remembers: restarting it delivers only what is new.
    await sink.publish(event("acme.inc", "ann", "2024-01-01T09:00:00.000Z"));
    const again: IdentifiedEvent[] = [];
    const c2 = await consumeEvents({ nc, stream: "EV_TEST", durable: "attendance", companyId: "acme.inc", handler: (e) => void again.push(e) });
    for (let i = 0; i < 50 && again.length < 1; i++) await Bun.sleep(100);
    await Bun.sleep(200);
    await c2.stop();
    expect(again.map((e) => e.userId)).toEqual(["ann"]);
  }, 20_000);
});
