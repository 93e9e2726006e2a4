/** Decision rules across frames (pure logic: recognitions in, states and identifications out). */
import { describe, expect, test } from "bun:test";
import type { BBox, Recognition } from "../../../lib/core/mod.ts";
import { bboxIou as iou } from "../../../lib/core/internal.ts";
import { DecisionEngine } from "../../../server/kiosk/decision.ts";
import { loadKioskConfig } from "../../../server/kiosk/config.ts";
import { blink, FACE, five, openMouth } from "./liveness/face.ts";

const BOX: BBox = [100, 100, 80, 100];
const FAR: BBox = [400, 100, 80, 100];
const face = (userId: string | null, confidence = userId ? 0.6 : 0.1, bbox: BBox = BOX): Recognition => ({ userId, confidence, bbox });
const settings = { confirmFrames: 3, windowFrames: 5, cooldownMs: 10_000, maxFaces: 5 };

describe("DecisionEngine", () => {
  test("recognized after K of the last N frames agree; one identification with the mean confidence", () => {
    const d = new DecisionEngine(settings);
    const seq: (string | null)[] = [null, "ada", null, "ada", "ada", "ada"];
    const out = seq.map((u, i) => d.observe([face(u, u ? 0.5 + i / 100 : 0.2)], 1000 + i));
    expect(out.map((o) => o.faces[0].state)).toEqual(["detecting", "verifying", "verifying", "verifying", "recognized", "recognized"]);
    expect(out[1].faces[0].userId).toBe("ada");
    expect(out[2].faces[0].userId).toBeNull(); // while verifying, only this frame's match is shown
    expect(out[4].identified).toHaveLength(1);
    expect(out[4].identified[0].userId).toBe("ada");
    expect(out[4].identified[0].confidence).toBeCloseTo((0.51 + 0.53 + 0.54) / 3, 6);
    expect(out[5].identified).toHaveLength(0);
  });

  test("unknown after N frames with a face and no match; a single match is not enough", () => {
    const d = new DecisionEngine(settings);
    const states = [null, null, null, null, null, "bob", null].map((u, i) => d.observe([face(u)], i).faces[0].state);
    expect(states).toEqual(["detecting", "detecting", "detecting", "detecting", "unknown", "verifying", "verifying"]);
    // The lone match leaves the window after N more frames: unknown again.
    const later = [null, null, null, null, null].map((u, i) => d.observe([face(u)], 10 + i).faces[0].state);
    expect(later.at(-1)).toBe("unknown");
  });

  test("a track that stays unknown for the window is one stranger verdict (frames, best score), never repeated", () => {
    const d = new DecisionEngine(settings);
    const scores = [0.1, 0.22, 0.15, 0.05, 0.12, 0.3, 0.1, 0.1];
    const out = scores.map((c, i) => d.observe([face(null, c)], i));
    expect(out.map((o) => o.strangers.length)).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
    expect(out[4].strangers[0]).toEqual({ track: out[4].faces[0].track, bbox: BOX, frames: 5, bestScore: 0.22 });
    expect(out.flatMap((o) => o.notLive)).toHaveLength(0);
    // two faces, two tracks: a verdict each; a recognized person is no stranger
    const two = new DecisionEngine(settings);
    const both = Array.from({ length: 6 }, (_, i) => two.observe([face(null, 0.1), face(i < 3 ? "ada" : null, 0.6, FAR)], i));
    const verdicts = both.flatMap((o) => o.strangers);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0].bbox).toEqual(BOX);
    // the track is forgotten (gone for a while) and comes back: a new track, a new verdict
    for (let i = 0; i < 5; i++) d.observe([], 100 + i);
    expect(Array.from({ length: 5 }, (_, i) => d.observe([face(null)], 200 + i)).flatMap((o) => o.strangers)).toHaveLength(1);
  });

  test("one bad frame does not reject a recognized person; votes for different users do not add up", () => {
    const d = new DecisionEngine(settings);
    for (const u of ["ada", "ada", "ada"]) d.observe([face(u)], 0);
    expect(d.observe([face(null)], 1).faces[0].state).toBe("recognized");
    const mixed = new DecisionEngine(settings);
    const states = ["ada", "bob", "ada", "bob", "cy"].map((u) => mixed.observe([face(u)], 0).faces[0].state);
    expect(states).not.toContain("recognized");
  });

  test("someone else stepping into the same place does not inherit the name", () => {
    const d = new DecisionEngine(settings);
    for (let i = 0; i < 5; i++) d.observe([face("ada")], i);
    const states = [null, null, null, null, null, null].map((u, i) => d.observe([face(u, 0.05)], 10 + i).faces[0]);
    expect(states[0]).toMatchObject({ state: "recognized", userId: "ada" }); // one bad frame is tolerated
    expect(states[1]).toMatchObject({ state: "verifying", userId: null });
    expect(states.at(-1)).toMatchObject({ state: "unknown", userId: null });
  });

  test("cooldown: the same user is not identified again until it passes, even on a new track", () => {
    const d = new DecisionEngine(settings);
    const run = (t: number) => [0, 1, 2].flatMap((i) => d.observe([face("ada")], t + i).identified);
    expect(run(0)).toHaveLength(1);
    // Gone (no face) long enough for the track to be forgotten, then back within the cooldown.
    for (let i = 0; i < 5; i++) d.observe([], 100 + i);
    expect(d.trackCount).toBe(0);
    expect(run(5_000)).toHaveLength(0);
    for (let i = 0; i < 5; i++) d.observe([], 9_000 + i);
    expect(run(10_100)).toHaveLength(1);
  });

  test("a shared cooldown table spans engines (the same kiosk reconnecting)", () => {
    const table = new Map<string, number>();
    const a = new DecisionEngine(settings, table);
    for (let i = 0; i < 3; i++) a.observe([face("ada")], i);
    const b = new DecisionEngine(settings, table);
    const ids = [0, 1, 2].flatMap((i) => b.observe([face("ada")], 50 + i).identified);
    expect(ids).toHaveLength(0);
  });

  test("faces are tracked separately by position", () => {
    const d = new DecisionEngine(settings);
    let last = d.observe([], 0);
    for (let i = 0; i < 5; i++) last = d.observe([face("ada", 0.6, BOX), face(null, 0.1, FAR)], i);
    const [left, right] = last.faces;
    expect(left).toMatchObject({ state: "recognized", userId: "ada" });
    expect(right).toMatchObject({ state: "unknown", userId: null });
    expect(left.track).not.toBe(right.track);
    // Moving a little keeps the track.
    const moved = d.observe([face("ada", 0.6, [110, 105, 80, 100])], 10).faces[0];
    expect(moved.track).toBe(left.track);
    expect(moved.state).toBe("recognized");
  });

  test("maxFaces bounds what is reported and tracked", () => {
    const d = new DecisionEngine({ ...settings, maxFaces: 2 });
    const boxes: BBox[] = [0, 1, 2, 3, 4].map((i) => [i * 200, 0, 100, 100]);
    const out = d.observe(boxes.map((b) => face(null, 0.1, b)), 0);
    expect(out.faces).toHaveLength(2);
    for (let i = 0; i < 10; i++) d.observe(boxes.map((b, k) => face(null, 0.1, [b[0] + ((i * 37 + k * 11) % 150), 200 * (i % 3), 100, 100])), i);
    expect(d.trackCount).toBeLessThanOrEqual(4);
  });

  test("faces without a box (no face found) are ignored; new settings trim the window", () => {
    const d = new DecisionEngine(settings);
    expect(d.observe([{ userId: null, confidence: 0, bbox: null }], 0).faces).toHaveLength(0);
    for (let i = 0; i < 5; i++) d.observe([face(null)], i);
    d.update({ ...settings, windowFrames: 3, confirmFrames: 2 });
    expect(d.observe([face("ada")], 10).faces[0].state).toBe("verifying");
    expect(d.observe([face("ada")], 11).faces[0].state).toBe("recognized");
  });

  test("iou", () => {
    expect(iou(BOX, BOX)).toBe(1);
    expect(iou(BOX, FAR)).toBe(0);
    expect(iou([0, 0, 10, 10], [5, 0, 10, 10])).toBeCloseTo(50 / 150, 6);
  });
});

describe("kiosk config", () => {
  test("defaults, environment and bounds", () => {
    const c = loadKioskConfig({});
    expect(c).toMatchObject({ confirmFrames: 3, windowFrames: 5, cooldownMs: 30_000, maxFrameBytes: 2 * 1024 * 1024, threshold: null });
    const e = loadKioskConfig({ KIOSK_CONFIRM_FRAMES: "2", KIOSK_WINDOW_FRAMES: "4", KIOSK_THRESHOLD: "0.5", KIOSK_IDLE_TIMEOUT_MS: "1000" });
    expect(e).toMatchObject({ confirmFrames: 2, windowFrames: 4, threshold: 0.5, idleTimeoutMs: 1000 });
    expect(() => loadKioskConfig({ KIOSK_CONFIRM_FRAMES: "9", KIOSK_WINDOW_FRAMES: "4" })).toThrow(/KIOSK_CONFIRM_FRAMES/);
    expect(() => loadKioskConfig({ KIOSK_WINDOW_FRAMES: "abc" })).toThrow(/KIOSK_WINDOW_FRAMES/);
    expect(() => loadKioskConfig({ KIOSK_THRESHOLD: "0.1" })).toThrow(/KIOSK_THRESHOLD/);
    expect(() => loadKioskConfig({ KIOSK_MAX_FRAME_BYTES: "-5" })).toThrow(/KIOSK_MAX_FRAME_BYTES/);
  });
});

describe("DecisionEngine with liveness", () => {
  const live = { ...settings, liveness: "passive" as const, livenessEvidenceFrames: 2, livenessWindowMs: 2000 };
  const withPoints = (userId: string | null, p: readonly (readonly [number, number])[]): Recognition => ({
    ...face(userId),
    landmarks: five(p).map(([x, y]) => [x, y] as [number, number]),
    landmarks68: p.map(([x, y]) => [x, y] as [number, number]),
  });

  test("a matching photo (landmarks that never change) is checking_liveness, then not_live; never identified", () => {
    const d = new DecisionEngine(live);
    const out = Array.from({ length: 14 }, (_, i) => d.observe([withPoints("ada", FACE)], i * 200));
    const states = out.map((o) => o.faces[0].state);
    expect(states.slice(0, 3)).toEqual(["verifying", "verifying", "checking_liveness"]);
    expect(states.at(-1)).toBe("not_live");
    expect(out.at(-1)?.faces[0].userId).toBeNull();
    expect(out.flatMap((o) => o.identified)).toHaveLength(0);
    expect(out.flatMap((o) => o.livenessTransitions)).toEqual(["flat"]);
    expect(out.at(-1)?.faces[0].liveness).toMatchObject({ state: "flat", evidence: 0, needed: 2 });
    // one not-live verdict for the track, with the evidence
    const notLive = out.flatMap((o) => o.notLive);
    expect(notLive).toHaveLength(1);
    expect(notLive[0].liveness).toMatchObject({ mode: "passive", state: "flat" });
    expect(out.flatMap((o) => o.strangers)).toHaveLength(0);
  });

  test("a talking face is identified once live, with the evidence in the identification", () => {
    const d = new DecisionEngine(live);
    const out = Array.from({ length: 8 }, (_, i) => d.observe([withPoints("ada", openMouth(FACE, i % 2 ? 25 : 0))], i * 200));
    const ids = out.flatMap((o) => o.identified);
    expect(ids).toHaveLength(1);
    expect(ids[0].liveness).toMatchObject({ mode: "passive", state: "live", passive: { state: "live", evidenceFrames: 2 } });
    expect(out.map((o) => o.faces[0].state)).toContain("recognized");
  });

  test("without landmarks (an engine that has none) nobody is identified: liveness fails closed", () => {
    const d = new DecisionEngine(live);
    const out = Array.from({ length: 20 }, (_, i) => d.observe([face("ada")], i * 200));
    expect(out.flatMap((o) => o.identified)).toHaveLength(0);
    expect(out.at(-1)?.faces[0].state).toBe("checking_liveness");
  });

  test("challenge mode: identified only after the asked action, on the same track", () => {
    const d = new DecisionEngine({ ...live, liveness: "challenge", challengeActions: ["blink"], challengeTimeoutMs: 3000 }, new Map(), () => 0);
    const out = Array.from({ length: 6 }, (_, i) => d.observe([withPoints("ada", openMouth(FACE, i % 2 ? 25 : 0))], i * 200));
    const issued = out.flatMap((o) => o.challenges);
    expect(issued).toEqual([{ track: 1, action: "blink", timeoutMs: 3000, attempt: 1 }]);
    expect(out.flatMap((o) => o.identified)).toHaveLength(0);
    expect(out.at(-1)?.faces[0].state).toBe("challenge");
    expect(out.at(-1)?.faces[0].liveness?.challenge?.action).toBe("blink");
    const later = [FACE, FACE, blink(FACE, 0.8)].map((p, i) => d.observe([withPoints("ada", p)], 1400 + i * 200));
    expect(later.flatMap((o) => o.challengeOutcomes)).toEqual([{ track: 1, action: "blink", passed: true }]);
    expect(later.flatMap((o) => o.identified).map((i) => i.userId)).toEqual(["ada"]);
  });
});
