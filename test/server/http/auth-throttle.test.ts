/** AuthThrottle on its own (the HTTP and WebSocket paths are tested over real sockets in scopes/limits and kiosk protocol tests). */
import { expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { AuthThrottle } from "../../../server/http/auth-throttle.ts";

test("free failures, then doubling blocks up to the cap; forgotten after a quiet period; per address", () => {
  let now = 0;
  const t = new AuthThrottle({ limit: 3, baseMs: 1000, maxMs: 8000, forgetMs: 60_000, now: () => now });
  for (let i = 0; i < 3; i++) {
    t.check("a");
    t.failure("a");
  }
  t.check("a"); // 3 failures: still free
  t.failure("a"); // 4th: blocked 1 s
  const blocked = (() => {
    try {
      t.check("a");
    } catch (e) {
      return e as FaceError;
    }
  })();
  expect(blocked?.code).toBe("RATE_LIMITED");
  expect((blocked?.details as { retryAfterSeconds: number }).retryAfterSeconds).toBe(1);
  t.check("b"); // other addresses unaffected
  now += 1000;
  t.check("a");
  t.failure("a"); // 5th: 2 s
  now += 1999;
  expect(() => t.check("a")).toThrow(FaceError);
  now += 1;
  for (let i = 0; i < 10; i++) t.failure("a");
  expect(() => t.check("a")).toThrow(/retry in 8 s/); // capped
  expect(t.failures).toBe(15);
  expect(t.throttled).toBe(3);
  now += 8000 + 60_001;
  expect(t.failuresOf("a")).toBe(0);
  t.check("a");
  expect(() => new AuthThrottle({ limit: 0 }).check("x")).not.toThrow();
});

test("keys that authenticated from an address before pass its block; others (a lucky guess) do not", () => {
  let now = 0;
  const t = new AuthThrottle({ limit: 1, now: () => now });
  t.check("a", "key:good");
  t.success("a", "key:good");
  t.failure("a");
  t.failure("a"); // blocked
  expect(() => t.check("a", "key:good")).not.toThrow();
  expect(() => t.check("a", "key:other")).toThrow(FaceError);
  expect(() => t.check("a")).toThrow(FaceError);
  expect(() => t.check("b", "key:good")).not.toThrow(); // not blocked there anyway
});

test("bounded memory: at most maxAddresses tracked", () => {
  const t = new AuthThrottle({ limit: 5, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) t.failure(`10.0.${i >> 8}.${i & 255}`);
  let tracked = 0;
  for (let i = 0; i < 1000; i++) if (t.failuresOf(`10.0.${i >> 8}.${i & 255}`) > 0) tracked++;
  expect(tracked).toBeLessThanOrEqual(100);
});
