/**
 * The page's same-person rule for enrollment (kiosk-web/src/consistency.ts), on real embeddings:
 * Hamilton frames of the performer (6, 19-39), of another man (9) and of the audience (40, 44).
 */
import { beforeAll, expect, test } from "bun:test";
import { cosineSimilarity as cosine } from "../../../lib/core/internal.ts";
import { choosePerson } from "../../../kiosk-web/src/consistency.ts";
import { describeDatasets } from "../../helpers/datasets.ts";
import { hamiltonFrame, sharedService } from "./harness.ts";

describeDatasets("enrollment: frames of one person", () => {
  const emb = new Map<number, Float32Array>();
  const e = (n: number) => emb.get(n)!;

  beforeAll(async () => {
    const service = await sharedService();
    for (const n of [6, 9, 23, 25, 26, 27, 31, 32, 33, 40, 44]) {
      const [face] = await service.engine.analyze(hamiltonFrame(n), { maxFaces: 1 });
      emb.set(n, face.embedding);
    }
  }, 120_000);

  test("the person seen in most frames is chosen, even when someone else comes first", () => {
    const frames = [40, 25, 9, 26, 44, 33, 32];
    const choice = choosePerson(frames.map(e), 0.5);
    expect(choice.kind).toBe("person");
    if (choice.kind !== "person") return;
    expect(choice.members.map((i) => frames[i])).toEqual([25, 26, 33, 32]);
    // The audience and the other man are far below the threshold.
    for (const i of [0, 2, 4]) expect(choice.similarity[i]!).toBeLessThan(0.35);
    for (const i of choice.members) expect(choice.similarity[i]!).toBeGreaterThanOrEqual(0.5);
  });

  test("frames without a face are ignored; one usable frame is enough", () => {
    const choice = choosePerson([null, e(25), null], 0.5);
    expect(choice).toMatchObject({ kind: "person", anchor: 1, members: [1] });
    expect(choosePerson([null, null], 0.5)).toEqual({ kind: "none" });
  });

  test("two people in equally many frames, or no two frames alike: nothing is chosen", () => {
    const tie = choosePerson([e(40), e(25), e(44), e(26)], 0.5);
    expect(tie.kind).toBe("ambiguous");
    if (tie.kind === "ambiguous") expect(tie.reason).toContain("equally often");
    const strangers = choosePerson([e(40), e(25), e(9)], 0.5);
    expect(strangers.kind).toBe("ambiguous");
    if (strangers.kind === "ambiguous") expect(strangers.reason).toContain("no two frames");
  });

  test("one person split into two groups by pose is not a rival", () => {
    // Two pairs of performer frames: each pair agrees (≥ 0.5), no frame agrees with the other pair,
    // but the means of the pairs do. Without that check this would be refused as two people.
    const frames = [6, 23, 27, 31];
    expect(cosine(e(6), e(23))).toBeGreaterThanOrEqual(0.5);
    expect(cosine(e(27), e(31))).toBeGreaterThanOrEqual(0.5);
    for (const [a, b] of [[6, 27], [6, 31], [23, 27], [23, 31]]) expect(cosine(e(a), e(b))).toBeLessThan(0.5);
    const choice = choosePerson(frames.map(e), 0.5);
    expect(choice.kind).toBe("person");
    if (choice.kind === "person") expect(choice.members).toHaveLength(2);
  });

  test("cosine", () => {
    expect(cosine([1, 0], [0, 1])).toBe(0);
    expect(cosine([2, 0], [1, 0])).toBeCloseTo(1);
    expect(cosine([0, 0], [1, 0])).toBe(0);
    expect(cosine(e(25), e(25))).toBeCloseTo(1, 5);
  });
});
