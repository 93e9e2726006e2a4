import { afterAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { FaceError } from "../../../lib/core/errors.ts";
import { decodeCursor, encodeCursor, eventIdTime, IdCursorSchema, newEventId, resetEventIdClock } from "../../../lib/core/event-ids.ts";

// The ids below are made 10 years ahead: later test files in this process must not inherit that clock.
afterAll(resetEventIdClock);

describe("event ids and cursors", () => {
  test("ids are 26-character ULIDs that sort by time, strictly increasing within one millisecond, and carry their time", () => {
    // Later than any id made before in this process (the generator keeps its last time).
    const t = Date.now() + 10 * 365 * 86_400_000;
    const ids = [newEventId(t), newEventId(t), newEventId(t), newEventId(t + 1), newEventId(t - 5)];
    for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(eventIdTime(ids[0])).toBe(t);
    // a clock stepping back keeps the last time, so order holds
    expect(eventIdTime(ids[4])).toBe(t + 1);
  });

  test("cursors round-trip; anything else is INVALID_ARGUMENT", () => {
    const after = newEventId();
    const cursor = encodeCursor({ after });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, IdCursorSchema)).toEqual({ after });
    for (const bad of ["", "not a cursor", encodeCursor({ after: "x" }), encodeCursor({ other: 1 })]) {
      expect(() => decodeCursor(bad, IdCursorSchema)).toThrow(FaceError);
    }
    expect(decodeCursor(encodeCursor({ n: 3 }), z.object({ n: z.number() }))).toEqual({ n: 3 });
  });
});
