import { describe, expect, test } from "bun:test";
import { EventFeed } from "../../../lib/core/event-feed.ts";
import type { EventRecord } from "../../../lib/core/event-log.ts";

const event = (companyId: string, userId: string): EventRecord =>
  ({ id: "01JZ0000000000000000000000", at: "2026-11-30T12:00:00.000Z", companyId, userId, confidence: 0.9 }) as EventRecord;

describe("EventFeed", () => {
  test("listeners get their company's events only; a throwing listener does not stop the others; unsubscribe removes", () => {
    const feed = new EventFeed();
    const got: string[] = [];
    const off = feed.subscribe("acme", (e) => got.push(`a:${e.userId}`));
    feed.subscribe("acme", () => {
      throw new Error("listener bug");
    });
    feed.subscribe("beta", (e) => got.push(`b:${e.userId}`));
    expect(feed.size).toBe(3);
    feed.emit(event("acme", "jane"));
    feed.emit(event("beta", "bob"));
    expect(got).toEqual(["a:jane", "b:bob"]);
    off();
    feed.emit(event("acme", "joe"));
    expect(got).toEqual(["a:jane", "b:bob"]);
    expect(feed.size).toBe(2);
    feed.clear();
    expect(feed.size).toBe(0);
  });
});
