import { describe, expect, test } from "bun:test";
import { PeerRouter } from "../../../lib/nats/peer-router.ts";
import type { WorkerStats } from "../../../lib/nats/protocol.ts";

const worker = (workerId: string, extra: Partial<WorkerStats> = {}): WorkerStats => ({
  workerId,
  startedAt: "2026-11-30T00:00:00Z",
  uptimeSeconds: 1,
  concurrency: 2,
  inFlight: 0,
  backlog: 0,
  draining: false,
  processed: 0,
  failed: 0,
  timedOut: 0,
  revision: 0,
  direct: `p.w.${workerId}`,
  operations: {},
  ...extra,
});

/** A router whose stats source is counted and answered by `answer`. */
function router(answer: () => Promise<WorkerStats[]>, refreshMs = 0) {
  const calls = { n: 0 };
  const r = new PeerRouter(refreshMs, () => {
    calls.n++;
    return answer();
  });
  return { r, calls };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("PeerRouter (least-loaded routing)", () => {
  test("nothing known: no peer (the queue group serves); after a refresh, the least-loaded worker", async () => {
    const { r } = router(async () => [worker("a"), worker("b"), worker("c", { direct: undefined }), worker("d", { draining: true })]);
    expect(r.pick()).toBeUndefined();
    r.refresh();
    await settle();
    const first = r.pick()!;
    expect(["a", "b"]).toContain(first.workerId);
    first.outstanding++;
    const second = r.pick()!;
    expect(second.workerId).not.toBe(first.workerId);
    second.outstanding += 2;
    // a has 1 or 2 in flight, b the other: the one with fewer wins every time
    for (let i = 0; i < 20; i++) expect(r.pick()).toBe(first);
  });

  test("ties are broken at random: both workers get picked", async () => {
    const { r } = router(async () => [worker("a"), worker("b")]);
    r.refresh();
    await settle();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(r.pick()!.workerId);
    expect([...seen].sort()).toEqual(["a", "b"]);
  });

  test("a refresh keeps the in-flight counts of known workers; a dropped worker comes back with the next refresh", async () => {
    const { r } = router(async () => [worker("a"), worker("b")]);
    r.refresh();
    await settle();
    const a = r.pick()!;
    a.outstanding = 5;
    r.refresh();
    await settle();
    expect(r.pick()!.workerId).not.toBe(a.workerId);
    const b = r.pick()!;
    r.drop(b);
    expect(r.pick()).toBe(a);
    r.refresh();
    await settle();
    expect(r.pick()!.workerId).toBe(b.workerId);
  });

  test("refreshes at most every refreshMs, one at a time", async () => {
    const { r, calls } = router(async () => [worker("a")], 60_000);
    r.refresh();
    r.refresh();
    await settle();
    r.refresh();
    expect(calls.n).toBe(1);
    expect(r.pick()?.workerId).toBe("a");
  });

  test("a failed refresh forgets every worker (the queue group serves until the next one)", async () => {
    let fail = false;
    const { r } = router(async () => {
      if (fail) throw new Error("no stats");
      return [worker("a")];
    });
    r.refresh();
    await settle();
    expect(r.pick()?.workerId).toBe("a");
    fail = true;
    r.refresh();
    await settle();
    expect(r.pick()).toBeUndefined();
  });
});
