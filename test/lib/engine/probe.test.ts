/**
 * EngineProbe: health never waits on inference once a result exists. A stale result is answered at
 * once while one new probe runs behind it; a failing engine turns the next answer to ok: false.
 */
import { expect, test } from "bun:test";
import type { EngineInfo } from "../../../lib/core/mod.ts";
import { EngineProbe } from "../../../lib/engine/probe.ts";
import type { FaceEngine } from "../../../lib/engine/types.ts";

function slowEngine(ms: number) {
  const state = { runs: 0, fail: false };
  const engine = {
    info: () => ({ embeddingDim: 4 }) as EngineInfo,
    detect: async () => {
      state.runs++;
      await Bun.sleep(ms);
      if (state.fail) throw new Error("engine broken");
      return [];
    },
    embed: async () => new Float32Array(4),
  } as unknown as FaceEngine;
  return { engine, state };
}

test("the first check waits for the probe; a stale result is answered at once while one probe refreshes it", async () => {
  const { engine, state } = slowEngine(60);
  const probe = new EngineProbe(engine, { ttlMs: 0 });
  const first = await probe.check();
  expect(first.ok).toBe(true);
  expect(state.runs).toBe(1);

  state.fail = true;
  const t0 = performance.now();
  const [a, b] = await Promise.all([probe.check(), probe.check()]);
  expect(performance.now() - t0).toBeLessThan(30);
  expect([a.ok, b.ok]).toEqual([true, true]);
  expect(state.runs).toBe(2); // one refresh shared by both callers

  await Bun.sleep(120);
  const after = await probe.check();
  expect(after.ok).toBe(false);
  expect(after.error).toContain("engine broken");
});
