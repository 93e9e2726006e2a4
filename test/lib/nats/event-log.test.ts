/**
 * NatsEventLog on a real nats-server: the event log of NATS mode. Two logs on two connections
 * stand for two gateways: what one appends the other lists and streams live; pages both ways,
 * filters, events published by the older NatsEventSink, consumeEvents reading new events.
 */
import { expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import type { EventRecord, IdentifiedEvent, NewEvent, UnknownEvent } from "../../../lib/core/mod.ts";
import { NatsEventLog } from "../../../lib/nats/event-log.ts";
import { consumeEvents, NatsEventSink } from "../../../lib/nats/events.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

const ev = (userId: string, extra: Partial<NewEvent> = {}): NewEvent => ({
  companyId: "acme.inc",
  userId,
  confidence: 0.7,
  threshold: 0.4,
  kioskId: "door",
  source: "kiosk",
  frames: 3,
  ...extra,
});

async function pages(log: NatsEventLog, order: "asc" | "desc", limit: number, extra: Partial<Parameters<NatsEventLog["list"]>[0]> = {}): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  let cursor: string | undefined;
  do {
    const p = await log.list({ companyId: "acme.inc", order, limit, cursor, ...extra });
    expect(p.events.length).toBeLessThanOrEqual(limit);
    out.push(...p.events);
    cursor = p.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

describeWithTools(["nats-server"], "NatsEventLog (JetStream events stream)", () => {
  const nats = useNatsServer();

  test("append on one gateway, list and page on another, both orders, filters", async () => {
    const nc1 = nats.track(await connect({ servers: nats.url }));
    const nc2 = nats.track(await connect({ servers: nats.url }));
    const a = await NatsEventLog.open({ nc: nc1, stream: "EV_LOG" });
    const b = await NatsEventLog.open({ nc: nc2, stream: "EV_LOG" });
    const appended: EventRecord[] = [];
    for (let i = 0; i < 7; i++) appended.push(await a.append(ev(i % 2 === 0 ? "ann" : "bob", { kioskId: `k${i}` })));
    await a.append({ ...ev("zed"), companyId: "other" });
    const ids = appended.map((e) => e.id);
    expect([...ids].sort()).toEqual(ids);

    expect((await pages(b, "asc", 3)).map((e) => e.id)).toEqual(ids);
    expect((await pages(b, "desc", 3)).map((e) => e.id)).toEqual([...ids].reverse());
    expect((await pages(b, "desc", 100)).map((e) => e.id)).toEqual([...ids].reverse());
    const first = (await b.list({ companyId: "acme.inc", order: "asc", limit: 1 })).events[0];
    expect(first).toEqual(appended[0]);
    expect((await pages(b, "asc", 2, { userId: "bob" })).map((e) => e.kioskId)).toEqual(["k1", "k3", "k5"]);
    const since = Date.parse(appended[3].at);
    const fromMid = await pages(b, "asc", 10, { since });
    expect(fromMid.every((e) => Date.parse(e.at) >= since)).toBe(true);
    expect(fromMid.map((e) => e.id)).toEqual(ids.filter((_, i) => Date.parse(appended[i].at) >= since));
    const before = await pages(b, "desc", 10, { until: since });
    expect(before.length + fromMid.length).toBe(ids.length);
    expect((await b.list({ companyId: "nobody", order: "desc", limit: 10 })).events).toEqual([]);
    expect((await b.list({ companyId: "other", order: "desc", limit: 10 })).events.map((e) => e.userId)).toEqual(["zed"]);
    await expect(b.list({ companyId: "acme.inc", order: "asc", limit: 1, cursor: "bogus" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  test("newest first across a long stream: backward chunks page through everything, in order", async () => {
    const nc = nats.track(await connect({ servers: nats.url }));
    const log = await NatsEventLog.open({ nc, stream: "EV_LONG", subjectPrefix: "long" });
    const mine: string[] = [];
    // 40 of ours, 1,400 of another company, 40 of ours: pages must cross sparse stretches
    for (let i = 0; i < 40; i++) mine.push((await log.append(ev(`u${i}`))).id);
    await Promise.all(Array.from({ length: 1400 }, (_, i) => log.append({ ...ev(`n${i}`), companyId: "noise" })));
    for (let i = 0; i < 40; i++) mine.push((await log.append(ev(`v${i}`))).id);
    const desc = await pages(log, "desc", 30);
    expect(desc.map((e) => e.id)).toEqual([...mine].reverse());
    const first = await log.list({ companyId: "acme.inc", order: "desc", limit: 50 });
    expect(first.events.map((e) => e.id)).toEqual([...mine].reverse().slice(0, 50));
    expect(first.nextCursor).not.toBeNull();
  }, 60_000);

  test("the live feed sees events appended by another gateway, only the company's", async () => {
    const nc1 = nats.track(await connect({ servers: nats.url }));
    const nc2 = nats.track(await connect({ servers: nats.url }));
    const a = await NatsEventLog.open({ nc: nc1, stream: "EV_LIVE", subjectPrefix: "live" });
    const b = await NatsEventLog.open({ nc: nc2, stream: "EV_LIVE", subjectPrefix: "live" });
    const seen: EventRecord[] = [];
    const stop = b.subscribe("acme.inc", (e) => seen.push(e));
    await nc2.flush();
    const x = await a.append(ev("ann"));
    await a.append({ ...ev("zed"), companyId: "other" });
    const y = await a.append(ev("bob", { liveness: { score: 0.9 } }));
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await Bun.sleep(10);
    expect(seen).toEqual([x, y]);
    stop();
    await a.append(ev("cat"));
    await Bun.sleep(100);
    expect(seen).toHaveLength(2);
    await b.close();
  });

  test("events from the older NatsEventSink are listed; consumeEvents reads the log's events", async () => {
    const nc = nats.track(await connect({ servers: nats.url }));
    const sink = await NatsEventSink.create({ nc, stream: "EV_MIX", subjectPrefix: "mix" });
    const old: IdentifiedEvent = { type: "identified", companyId: "acme.inc", userId: "old", confidence: 0.8, bbox: [1, 2, 3, 4], at: new Date().toISOString(), sessionId: "s1", kioskId: "door" };
    await sink.publish(old);
    const log = await NatsEventLog.open({ nc, stream: "EV_MIX", subjectPrefix: "mix" });
    const fresh = await log.append(ev("new"));
    const listed = (await log.list({ companyId: "acme.inc", order: "asc", limit: 10 })).events;
    expect(listed.map((e) => e.userId)).toEqual(["old", "new"]);
    expect(listed[0]).toMatchObject({ source: "kiosk", kioskId: "door", sessionId: "s1", threshold: null, frames: null });
    expect(listed[0].id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(listed[1]).toEqual(fresh);

    const got: IdentifiedEvent[] = [];
    const c = await consumeEvents({ nc, durable: "mix", stream: "EV_MIX", subjectPrefix: "mix", companyId: "acme.inc", handler: (e) => void got.push(e) });
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await Bun.sleep(10);
    await c.stop();
    expect(got.map((e) => e.userId)).toEqual(["old", "new"]);
    expect(got[1]).toMatchObject({ companyId: "acme.inc", threshold: 0.4, frames: 3, kioskId: "door" });
  });

  test("stranger events: appended and listed by type on another gateway, streamed live; consumeEvents gives them to onUnknown, or skips them", async () => {
    const nc1 = nats.track(await connect({ servers: nats.url }));
    const nc2 = nats.track(await connect({ servers: nats.url }));
    const a = await NatsEventLog.open({ nc: nc1, stream: "EV_UNK", subjectPrefix: "unk" });
    const b = await NatsEventLog.open({ nc: nc2, stream: "EV_UNK", subjectPrefix: "unk" });
    const live: EventRecord[] = [];
    const stop = b.subscribe("acme.inc", (e) => live.push(e));
    await Bun.sleep(100);
    const known = await a.append(ev("ann"));
    const stranger = await a.append({ ...ev("x"), type: "unknown", userId: null, confidence: 0.12, liveness: { state: "checking" } });
    // an unknown event names nobody; an identified one somebody
    await expect(a.append({ ...ev("x"), type: "unknown" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(a.append({ ...ev("x"), userId: null })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(stranger).toMatchObject({ type: "unknown", userId: null, confidence: 0.12 });
    expect((await b.list({ companyId: "acme.inc", order: "asc", limit: 10 })).events).toEqual([known, stranger]);
    expect((await b.list({ companyId: "acme.inc", order: "asc", limit: 10, type: "unknown" })).events).toEqual([stranger]);
    expect((await b.list({ companyId: "acme.inc", order: "desc", limit: 10, type: "identified" })).events).toEqual([known]);
    const deadline = Date.now() + 5000;
    while (live.length < 2 && Date.now() < deadline) await Bun.sleep(10);
    stop();
    expect(live).toEqual([known, stranger]);

    const identified: IdentifiedEvent[] = [];
    const unknown: UnknownEvent[] = [];
    const both = await consumeEvents({ nc: nc1, durable: "unk-both", stream: "EV_UNK", subjectPrefix: "unk", handler: (e) => void identified.push(e), onUnknown: (e) => void unknown.push(e) });
    const legacy: IdentifiedEvent[] = [];
    const old = await consumeEvents({ nc: nc1, durable: "unk-old", stream: "EV_UNK", subjectPrefix: "unk", handler: (e) => void legacy.push(e) });
    const end = Date.now() + 5000;
    while ((identified.length < 1 || unknown.length < 1 || legacy.length < 1) && Date.now() < end) await Bun.sleep(10);
    await Bun.sleep(100);
    await both.stop();
    await old.stop();
    expect(identified.map((e) => e.userId)).toEqual(["ann"]);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({ type: "unknown", companyId: "acme.inc", confidence: 0.12, kioskId: "door" });
    expect(legacy.map((e) => e.userId)).toEqual(["ann"]); // a consumer written for identifications is not stuck on a stranger
    await a.close();
    await b.close();
  });

  test("EVENTS_RETENTION_DAYS changes an existing stream's max_age", async () => {
    const nc = nats.track(await connect({ servers: nats.url }));
    await NatsEventLog.open({ nc, stream: "EV_AGE", subjectPrefix: "age", maxAgeSeconds: 3600 });
    const log = await NatsEventLog.open({ nc, stream: "EV_AGE", subjectPrefix: "age", enforceMaxAgeSeconds: 2 * 86_400 });
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const info = await (await jetstreamManager(nc)).streams.info(log.stream);
    expect(info.config.max_age).toBe(2 * 86_400 * 1e9);
  });
});
