/** The 2-thread scan (helper Worker over a shared WebAssembly memory) gives exactly the 1-thread results. */
import { afterAll, expect, test } from "bun:test";
import { Gallery, Int8Kernel, JsKernel } from "../../../lib/core/internal.ts";
import { ScanPool } from "../../../lib/service/scan-pool.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

const pool = new ScanPool();
afterAll(() => pool.terminate());

test("searches split across two threads match the JS reference, through growth and deletes", async () => {
  const split = new Gallery({ kernel: () => new Int8Kernel({ minRows: 16, parallel: pool, parallelMinRows: 64 }), score: "max" });
  const reference = new Gallery({ kernel: () => new JsKernel(), score: "max" });
  const rand = rng(11);
  let revision = 0;
  const apply = (e: Parameters<Gallery["apply"]>[0]) => {
    split.apply(e);
    reference.apply(e);
  };
  // parents first, as a store delivers them (the gallery never creates them)
  apply({ revision: ++revision, type: "company.put", companyId: "c" });
  for (let u = 0; u < 1200; u++) apply({ revision: ++revision, type: "user.put", companyId: "c", userId: `u${u}` });
  for (let i = 0; i < 3000; i++) {
    apply({ revision: ++revision, type: "face.put", face: { companyId: "c", userId: `u${i % 1200}`, faceId: `f${i}`, embedding: randomUnit(rand, 512), model: "m" } });
  }
  for (let i = 0; i < 3000; i += 5) apply({ revision: ++revision, type: "face.delete", companyId: "c", userId: `u${i % 1200}`, faceId: `f${i}` });
  expect(split.index("c")!.kernel.name).toContain("2 threads");
  // the helper attaches asynchronously: until then the kernel scans alone (still exact)
  split.search("c", randomUnit(rand, 512));
  const memoryReady = Date.now() + 5000;
  while (Date.now() < memoryReady) {
    await Bun.sleep(20);
    if ((pool as unknown as { byId: Map<number, { ready: boolean }> }).byId.values().next().value?.ready) break;
  }
  for (let t = 0; t < 40; t++) {
    const q = randomUnit(rand, 512);
    const k = 1 + (t % 7);
    expect(split.search("c", q, { k })).toEqual(reference.search("c", q, { k }).map((h) => ({ ...h, score: expect.closeTo(h.score, 6) as unknown as number })));
  }
});
