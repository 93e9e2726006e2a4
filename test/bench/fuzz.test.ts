/**
 * A short seeded fuzz run (bench/fuzz/run.ts) against the real processes: the same checks as
 * `bun run fuzz` on 400 inputs. The same seed gives the same inputs (a failure reproduces with
 * `bun run fuzz -- --seed 7 --count 400`).
 */
import { expect, test } from "bun:test";
import { Rng } from "../../bench/fuzz/rng.ts";
import { runFuzz } from "../../bench/fuzz/run.ts";
import { describeWithTools } from "../helpers/tools.ts";

test("the generator is deterministic per seed", () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const xs = Array.from({ length: 50 }, () => a.int(0, 1000));
  expect(Array.from({ length: 50 }, () => b.int(0, 1000))).toEqual(xs);
  expect(new Rng(8).int(0, 1000)).not.toBe(xs[0]);
});

describeWithTools(["nats-server"], "fuzz (short seeded run, real server, nats-server and worker)", () => {
  test("400 malformed inputs: no crash, no hang, only documented answers, gallery and memory intact", async () => {
    const result = await runFuzz({ seed: 7, count: 400, settleMs: 1500 });
    const failures = Object.entries(result.categories).flatMap(([c, r]) => r.examples.map((e) => `${c}: ${e}`));
    expect(failures).toEqual([]);
    expect(result.inputs).toBeGreaterThanOrEqual(400);
    expect({ crashes: result.crashes, hangs: result.hangs, undocumented: result.undocumented, internal: result.internal }).toEqual({ crashes: 0, hangs: 0, undocumented: 0, internal: 0 });
    expect(result.health).toBe(200);
    expect(result.gallery.untouched).toBe(true);
    expect(result.kioskFrames.accounted).toBe(true);
    for (const c of Object.values(result.categories)) expect(c.inputs).toBeGreaterThan(0);
    expect(result.passed).toBe(true);
  }, 240_000);
});
