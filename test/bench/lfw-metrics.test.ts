import { describe, expect, test } from "bun:test";
import { auc, eer, parsePairs, tarAtFar, tenFoldAccuracy, thresholdTable, type Scored } from "../../bench/lfw-metrics.ts";

describe("LFW pairs files", () => {
  test("View 1: N same then N different, 10 folds per half", () => {
    const same = Array.from({ length: 20 }, (_, i) => `Ann_Lee\t${i + 1}\t${i + 2}`);
    const diff = Array.from({ length: 20 }, (_, i) => `Ann_Lee\t${i + 1}\tBob_Ray\t${i + 3}`);
    const pairs = parsePairs(["20", ...same, ...diff].join("\n"));
    expect(pairs).toHaveLength(40);
    expect(pairs[0]).toEqual({ same: true, a: "Ann_Lee/Ann_Lee_0001.jpg", b: "Ann_Lee/Ann_Lee_0002.jpg", fold: 0 });
    expect(pairs[39]).toEqual({ same: false, a: "Ann_Lee/Ann_Lee_0020.jpg", b: "Bob_Ray/Bob_Ray_0022.jpg", fold: 9 });
    for (let k = 0; k < 10; k++) {
      expect(pairs.filter((p) => p.fold === k && p.same)).toHaveLength(2);
      expect(pairs.filter((p) => p.fold === k && !p.same)).toHaveLength(2);
    }
  });

  test("View 2: '10 300' header, folds as in the file", () => {
    const lines = ["2 1", "A\t1\t2", "A\t1\tB\t1", "C\t1\t2", "C\t1\tD\t1"];
    expect(parsePairs(lines.join("\n")).map((p) => [p.same, p.fold])).toEqual([[true, 0], [false, 0], [true, 1], [false, 1]]);
  });

  test("malformed files are refused", () => {
    expect(() => parsePairs("")).toThrow();
    expect(() => parsePairs("2\nA\t1\t2")).toThrow(/expected 4 pairs/);
    expect(() => parsePairs("1\nA\t1\n")).toThrow();
  });
});

describe("verification metrics", () => {
  // separable scores: same pairs 0.6..0.9, different pairs -0.1..0.2
  const pairs: Scored[] = Array.from({ length: 100 }, (_, i) => ({
    same: i % 2 === 0,
    score: i % 2 === 0 ? 0.6 + (i % 7) * 0.05 : -0.1 + (i % 5) * 0.075,
    fold: Math.floor(i / 10),
  }));

  test("separable scores: accuracy 1, AUC 1, EER 0", () => {
    expect(tenFoldAccuracy(pairs).mean).toBe(1);
    expect(auc(pairs)).toBe(1);
    expect(eer(pairs).rate).toBe(0);
    expect(tarAtFar(pairs, 1e-2).tar).toBe(1);
  });

  test("a missing face counts as wrong everywhere", () => {
    const withMiss = pairs.map((p, i) => (i === 0 ? { ...p, score: null } : p));
    expect(tenFoldAccuracy(withMiss).mean).toBeCloseTo(0.99, 6);
    expect(auc(withMiss)).toBeLessThan(1);
  });

  test("one impostor above every genuine pair", () => {
    const bad = pairs.map((p, i) => (i === 1 ? { ...p, score: 0.95 } : p));
    expect(tarAtFar(bad, 1e-3).tar).toBe(0); // no false accept allowed with 50 impostors → threshold 0.95
    expect(tarAtFar(bad, 0.03).tar).toBe(1); // one allowed
    const t = thresholdTable(bad, [0.5]);
    expect(t[0]).toMatchObject({ falseAccepts: 1, impostors: 50, tar: 1 });
  });
});
