/**
 * Multi-frame aggregation (issue 9): the weighting, the decision on the aggregate with the votes as a
 * guard (pure), and the real path: a session over the real service searches each face's aggregated
 * embedding and decides on it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { FaceApi, Recognition, SearchEmbeddingRequest, SearchEmbeddingResult } from "../../../lib/core/mod.ts";
import { cosineSimilarity } from "../../../lib/core/internal.ts";
import { aggregateEmbeddings, frameWeight } from "../../../server/kiosk/aggregate.ts";
import { DecisionEngine, type AggregateDecision } from "../../../server/kiosk/decision.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import { HAM_KEY, PERFORMER, hamiltonFrame, readyClient, sharedService, startKioskStack, type KioskStack } from "./harness.ts";

describe("aggregation", () => {
  test("frame weight: detection score x size (up to 112 px) x motion since the last frame", () => {
    expect(frameWeight({ bbox: [0, 0, 200, 200], detectionScore: 1 })).toBe(1);
    expect(frameWeight({ bbox: [0, 0, 56, 80], detectionScore: 0.9 })).toBeCloseTo(0.45, 6);
    const still = frameWeight({ bbox: [100, 100, 150, 150], detectionScore: 1 }, [100, 100, 150, 150]);
    const moved = frameWeight({ bbox: [160, 100, 150, 150], detectionScore: 1 }, [100, 100, 150, 150]);
    expect(still).toBe(1);
    expect(moved).toBeCloseTo(1 / (1 + (60 / 150) * 4), 6);
    expect(frameWeight({ bbox: null })).toBe(0);
  });

  test("the aggregate is the weighted mean, normalised; weightless frames do not count", () => {
    const a = [1, 0, 0];
    const b = [0, 1, 0];
    const mean = aggregateEmbeddings([{ embedding: a, weight: 3 }, { embedding: b, weight: 1 }])!;
    expect(Math.hypot(...mean)).toBeCloseTo(1, 6);
    expect(mean[0] / mean[1]).toBeCloseTo(3, 6);
    expect(aggregateEmbeddings([{ embedding: a, weight: 0 }])).toBeNull();
    expect(aggregateEmbeddings([{ embedding: [0, 0, 0], weight: 1 }])).toBeNull();
  });

  test("decided on the aggregate: votes alone do not recognize when the aggregate names nobody; both agreeing does", () => {
    const settings = { confirmFrames: 3, windowFrames: 5, cooldownMs: 0, maxFaces: 5 };
    const face = (i: number): Recognition => ({ userId: "ada", confidence: 0.45, bbox: [100, 100, 120, 120], detectionScore: 0.99, embedding: [1, i / 10, 0] });
    const run = (decide: (frames: number) => AggregateDecision) => {
      const d = new DecisionEngine(settings);
      return Array.from({ length: 5 }, (_, i) => {
        const frame = [face(i)];
        const [q] = d.aggregates(frame);
        expect(q.frames).toBe(Math.min(i + 1, 5));
        return d.observe(frame, i * 100, new Map([[frame[0], decide(q.frames)]]));
      });
    };
    // Every frame matched "ada" at 0.45, but the aggregate is below the threshold: never recognized.
    const nobody = run((frames) => ({ userId: null, confidence: 0.38, frames }));
    expect(nobody.map((o) => o.faces[0].state)).not.toContain("recognized");
    expect(nobody.flatMap((o) => o.identified)).toHaveLength(0);
    // The aggregate agrees: recognized at the third vote, with the aggregate's confidence, everywhere.
    const agreed = run((frames) => ({ userId: "ada", confidence: 0.52, frames }));
    expect(agreed.map((o) => o.faces[0].state)).toEqual(["verifying", "verifying", "recognized", "recognized", "recognized"]);
    const [id] = agreed.flatMap((o) => o.identified);
    expect(id).toMatchObject({ userId: "ada", confidence: 0.52, aggregate: { userId: "ada", confidence: 0.52, frames: 3 } });
    expect(agreed[2].faces[0].confidence).toBe(0.52);
    // The query of the next frame mixes the track's frames: it is not the last frame's embedding.
    const d = new DecisionEngine(settings);
    d.observe([face(0)], 0);
    const [q] = d.aggregates([face(9)]);
    expect(cosineSimilarity(q.embedding, [1, 0.9, 0])).toBeLessThan(0.999);
    expect(cosineSimilarity(q.embedding, [1, 0, 0])).toBeLessThan(0.999);
  });
});

describeDatasets("aggregation in a real session", () => {
  let stack: KioskStack;
  const searches: { req: SearchEmbeddingRequest; res: SearchEmbeddingResult }[] = [];

  beforeAll(async () => {
    const service = await sharedService();
    // The real service, with its searches recorded.
    const api = new Proxy(service, {
      get(target, prop, receiver) {
        if (prop === "searchEmbedding") {
          return async (req: SearchEmbeddingRequest, opts?: object) => {
            const res = await target.searchEmbedding(req, opts);
            searches.push({ req, res });
            return res;
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as FaceApi;
    stack = await startKioskStack({ api });
  }, 120_000);
  afterAll(() => stack?.stop());

  test("each frame's faces are searched by their track's aggregated embedding; the identification carries its score", async () => {
    const c = await readyClient(stack.wsUrl({ company: "ham", key: HAM_KEY }));
    for (let n = 20; n <= 30 && c.of("identified").length === 0; n++) {
      c.sendFrame(hamiltonFrame(n));
      await c.next("result");
      await Bun.sleep(20);
    }
    const [identified] = c.of("identified");
    expect(identified?.userId).toBe(PERFORMER);
    expect(searches.length).toBeGreaterThanOrEqual(3);
    for (const { req } of searches) {
      expect(req.companyId).toBe("ham");
      expect(req.embedding).toHaveLength(512);
    }
    // The identification's confidence is the aggregate search's score for the performer.
    const last = searches.filter((s) => s.res.userId === PERFORMER).at(-1)!;
    expect(identified.confidence).toBeCloseTo(last.res.confidence, 6);
    c.close();
  }, 60_000);
});
