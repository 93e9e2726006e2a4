import { describe, expect, test } from "bun:test";
import { applyHomography, fitHomography, interocular, PassiveLiveness, type Pt } from "../../../../server/kiosk/liveness/mod.ts";
import { blink, FACE, jitter, openMouth, picture, turn } from "./face.ts";

const options = { evidenceFrames: 2, windowMs: 6000, minFrames: 6 };
const FRAME_MS = 200;

/** Feeds frames at 5 fps; returns the state after each. */
function run(frames: readonly (readonly Pt[])[]): { states: string[]; liveness: PassiveLiveness } {
  const liveness = new PassiveLiveness(options);
  const states = frames.map((f, i) => liveness.observe(f, i * FRAME_MS));
  return { states, liveness };
}

describe("geometry", () => {
  test("a homography is recovered from point pairs; residual ~0 for a planar move", () => {
    const moved = picture(FACE, 1.2, 15, -8, 0.1, 0.0008);
    const h = fitHomography(FACE, moved, FACE.map((_, i) => i));
    expect(h).not.toBeNull();
    for (let i = 0; i < FACE.length; i += 7) {
      const [x, y] = applyHomography(h!, FACE[i]);
      expect(Math.hypot(x - moved[i][0], y - moved[i][1])).toBeLessThan(1e-6 * 1000);
    }
    expect(interocular(FACE)).toBeGreaterThan(100);
  });
});

describe("passive liveness", () => {
  test("a still picture (the same landmarks every frame) is flat after the window: no motion", () => {
    const { states, liveness } = run(Array.from({ length: 40 }, () => FACE));
    expect(states).not.toContain("live");
    expect(states.at(-1)).toBe("flat");
    expect(states.indexOf("flat") * FRAME_MS).toBeGreaterThanOrEqual(options.windowMs);
    expect(liveness.report(40 * FRAME_MS)).toMatchObject({ state: "flat", evidenceFrames: 0, reason: "no_motion" });
  });

  test("a picture zoomed, panned, rotated and tilted (a print in a moving hand), with landmark jitter, is flat", () => {
    const frames = Array.from({ length: 40 }, (_, i) => {
      const t = i / 5;
      return picture(FACE, 1 + 0.2 * Math.sin(t), 40 * Math.sin(t * 1.3), 25 * Math.cos(t * 0.7), 0.15 * Math.sin(t * 0.9), 0.0006 * Math.sin(t)).map(jitter(i + 1, 1.2));
    });
    const { states, liveness } = run(frames);
    expect(states).not.toContain("live");
    expect(states.at(-1)).toBe("flat");
    const report = liveness.report(40 * FRAME_MS);
    expect(report.reason).toBe("planar_motion");
    expect(report.score).toBeLessThan(1);
  });

  test("a face that blinks is live within a few frames, while it moves like the picture above", () => {
    const frames = Array.from({ length: 20 }, (_, i) => {
      const lids = i % 6 === 3 ? blink(FACE, 0.8) : FACE;
      return picture(lids, 1 + 0.05 * Math.sin(i / 5), 10 * Math.sin(i / 4), 0, 0.02, 0).map(jitter(i + 7, 1));
    });
    const { states, liveness } = run(frames);
    expect(states.indexOf("live")).toBeGreaterThan(0);
    expect(states.indexOf("live")).toBeLessThanOrEqual(10);
    const report = liveness.report(20 * FRAME_MS);
    expect(report.evidenceFrames).toBe(2);
    expect(report.signals.ear + report.signals.eyes).toBeGreaterThan(0);
  });

  test("talking (the mouth opens and closes) and a head turn (parallax) are evidence too", () => {
    const talking = run(Array.from({ length: 12 }, (_, i) => openMouth(FACE, i % 2 ? 25 : 0).map(jitter(i + 3, 1))));
    expect(talking.states).toContain("live");
    expect(talking.liveness.report(0).signals.mouth + talking.liveness.report(0).signals.mar).toBeGreaterThan(0);
    const turning = run(Array.from({ length: 12 }, (_, i) => turn(FACE, 0.25 * Math.sin(i / 2)).map(jitter(i + 5, 1))));
    expect(turning.states).toContain("live");
    expect(turning.liveness.report(0).signals.rigid).toBeGreaterThan(0);
  });

  test("one jittery frame is not enough (2 evidence frames); a small face needs more motion; no landmarks: no evidence", () => {
    const frames = Array.from({ length: 10 }, (_, i) => (i === 4 ? blink(FACE, 0.9) : FACE));
    // One blink frame counts twice at most (as the frame that closes and the one that reopens)...
    const once = run(frames.slice(0, 5));
    expect(once.states).not.toContain("live");
    // ...tiny faces (interocular < 20 px) are skipped entirely.
    const tiny = run(Array.from({ length: 40 }, (_, i) => picture(i % 3 ? FACE : blink(FACE, 0.9), 0.1, 0, 0, 0, 0)));
    expect(tiny.states.every((s) => s === "checking")).toBe(true);
    const none = new PassiveLiveness(options);
    for (let i = 0; i < 50; i++) expect(none.observe(undefined, i * FRAME_MS)).toBe("checking");
  });
});
