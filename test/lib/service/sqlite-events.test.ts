/**
 * SqliteEventStore (and MemoryEventStore, the same contract): ids, pages, retention, the outbox
 * written with the event in one transaction, dead letters; persistence across a reopen.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventIdTime, MemoryEventStore, newEventId, type EventStore, type NewEvent } from "../../../lib/core/mod.ts";
import { SqliteEventStore, SqliteGalleryStore } from "../../../lib/service/mod.ts";

const ev = (userId: string, companyId = "acme"): NewEvent => ({ companyId, userId, confidence: 0.8, threshold: 0.4, kioskId: null, source: "api", frames: null });
const HOOK = { url: "http://127.0.0.1:9/h", secret: "0123456789abcdef" };

function contract(name: string, open: () => { store: EventStore; close: () => void }) {
  describe(name, () => {
    test("ids sort by time, are unique, and pages cover everything once", async () => {
      const { store, close } = open();
      const ids = [];
      for (let i = 0; i < 50; i++) ids.push((await store.append(ev(`u${i % 3}`))).id);
      expect(new Set(ids).size).toBe(50);
      expect([...ids].sort()).toEqual(ids);
      for (const order of ["asc", "desc"] as const) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const p = await store.list({ companyId: "acme", order, limit: 7, cursor });
          seen.push(...p.events.map((e) => e.id));
          cursor = p.nextCursor ?? undefined;
        } while (cursor);
        expect(seen).toEqual(order === "asc" ? ids : [...ids].reverse());
      }
      expect((await store.list({ companyId: "acme", order: "asc", limit: 100, userId: "u1" })).events).toHaveLength(17);
      expect((await store.list({ companyId: "other", order: "asc", limit: 100 })).events).toEqual([]);
      close();
    });

    test("stranger events: no user, filtered by type, queued for the webhook as type unknown", async () => {
      const { store, close } = open();
      await store.putWebhook("acme", HOOK);
      const known = await store.append(ev("ann"));
      const stranger = await store.append({ ...ev("x"), type: "unknown", userId: null, confidence: 0.1 });
      await expect(store.append({ ...ev("x"), type: "unknown" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(known.type).toBe("identified");
      expect(stranger).toMatchObject({ type: "unknown", userId: null });
      expect((await store.list({ companyId: "acme", order: "asc", limit: 10 })).events).toEqual([known, stranger]);
      expect((await store.list({ companyId: "acme", order: "asc", limit: 10, type: "unknown" })).events).toEqual([stranger]);
      expect((await store.list({ companyId: "acme", order: "asc", limit: 10, type: "identified" })).events).toEqual([known]);
      const due = await store.due(Date.now(), 10, new Set());
      expect(JSON.parse(due[1].payload)).toMatchObject({ type: "unknown", id: stranger.id, user_id: null });
      close();
    });

    test("retention: purge deletes what is older than the bound, nothing else", async () => {
      const { store, close } = open();
      const a = await store.append(ev("a"));
      await Bun.sleep(5);
      const b = await store.append(ev("b"));
      expect(await store.purge(eventIdTime(b.id))).toBe(1);
      expect((await store.list({ companyId: "acme", order: "asc", limit: 10 })).events.map((e) => e.id)).toEqual([b.id]);
      expect(a.id < b.id).toBe(true);
      close();
    });

    test("outbox: rows only while a webhook exists; delivered rows leave; dead letters counted and re-queued", async () => {
      const { store, close } = open();
      await store.append(ev("before"));
      expect(await store.outboxTotals()).toEqual({ pending: 0, dead: 0, webhooks: 0 });
      await store.putWebhook("acme", HOOK);
      const e1 = await store.append(ev("x"));
      const e2 = await store.append(ev("y"));
      await store.append(ev("z", "beta")); // no webhook for beta
      expect(await store.outboxTotals()).toEqual({ pending: 2, dead: 0, webhooks: 1 });
      const due = await store.due(Date.now(), 10, new Set());
      expect(due.map((d) => d.eventId)).toEqual([e1.id, e2.id]);
      expect(JSON.parse(due[0].payload)).toMatchObject({ type: "identified", id: e1.id, user_id: "x" });
      expect(await store.due(Date.now(), 10, new Set([`acme\u0000${e1.id}`]))).toHaveLength(1);
      await store.succeeded(due[0]);
      await store.failed(due[1], "HTTP 500", Date.now() + 60_000);
      expect(await store.due(Date.now(), 10, new Set())).toEqual([]);
      expect(await store.nextDueMs()).toBeGreaterThan(Date.now());
      await store.failed({ ...due[1], attempts: 1 }, "HTTP 502", null);
      const s = (await store.webhookStatus("acme"))!;
      expect(s).toMatchObject({ pending: 0, deadLetters: 1, delivered: 1, lastError: "HTTP 502", secretHint: "cdef" });
      expect(s.recentDeadLetters[0]).toMatchObject({ eventId: e2.id, attempts: 2 });
      expect(await store.requeueDead("acme")).toBe(1);
      expect((await store.due(Date.now(), 10, new Set())).map((d) => d.eventId)).toEqual([e2.id]);
      await store.putWebhook("acme", { url: "http://127.0.0.1:9/new", secret: "fedcba9876543210" });
      expect((await store.due(Date.now(), 10, new Set()))[0]).toMatchObject({ url: "http://127.0.0.1:9/new", secret: "fedcba9876543210" });
      expect(await store.deleteWebhook("acme")).toBe(true);
      expect(await store.outboxTotals()).toEqual({ pending: 0, dead: 0, webhooks: 0 });
      expect(await store.webhookStatus("acme")).toBeNull();
      close();
    });

    test("forgetCompany deletes one company's events only", async () => {
      const { store, close } = open();
      await store.append(ev("a"));
      await store.append(ev("b"));
      await store.append(ev("c", "beta"));
      expect(await store.forgetCompany("acme")).toBe(2);
      expect((await store.list({ companyId: "acme", order: "asc", limit: 10 })).events).toEqual([]);
      expect((await store.list({ companyId: "beta", order: "asc", limit: 10 })).events).toHaveLength(1);
      close();
    });

    test("the live feed gets the company's events", async () => {
      const { store, close } = open();
      const got: string[] = [];
      const stop = store.subscribe("acme", (e) => got.push(e.userId ?? "?"));
      await store.append(ev("a"));
      await store.append(ev("b", "beta"));
      stop();
      await store.append(ev("c"));
      expect(got).toEqual(["a"]);
      close();
    });

    test("invalid events are refused", async () => {
      const { store, close } = open();
      await expect(store.append({ ...ev("a"), userId: "" })).rejects.toThrow();
      await expect(store.append({ ...ev("a"), source: "bad source" })).rejects.toThrow();
      close();
    });
  });
}

contract("MemoryEventStore", () => ({ store: new MemoryEventStore(), close: () => {} }));
contract("SqliteEventStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "facegate-events-"));
  const gallery = new SqliteGalleryStore({ path: join(dir, "db.sqlite") });
  return {
    store: new SqliteEventStore(gallery.database),
    close: () => {
      gallery.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test("SqliteEventStore: events and the outbox survive a reopen of the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "facegate-events-"));
  const path = join(dir, "db.sqlite");
  const a = new SqliteGalleryStore({ path });
  const s1 = new SqliteEventStore(a.database);
  await s1.putWebhook("acme", HOOK);
  const e = await s1.append(ev("ann"));
  a.close();
  const b = new SqliteGalleryStore({ path });
  const s2 = new SqliteEventStore(b.database);
  expect((await s2.list({ companyId: "acme", order: "desc", limit: 10 })).events).toEqual([e]);
  expect((await s2.due(Date.now(), 10, new Set())).map((d) => d.eventId)).toEqual([e.id]);
  b.close();
  rmSync(dir, { recursive: true, force: true });
});

test("newEventId: monotonic within a millisecond, time-decodable", () => {
  const t = Date.now() + 1000; // ahead of every id made so far in this process (ids never go back in time)
  const ids = Array.from({ length: 1000 }, () => newEventId(t));
  expect([...ids].sort()).toEqual(ids);
  expect(new Set(ids).size).toBe(1000);
  expect(ids.every((id) => eventIdTime(id) === t)).toBe(true);
});
