import { describe, expect, test } from "bun:test";
import { Challenge, facePose, isCalm, TrackLiveness, type FacePose } from "../../../../server/kiosk/liveness/mod.ts";
import { blink, FACE, five, openMouth, turn } from "./face.ts";

const pose = (p = FACE): FacePose => facePose(five(p), p)!;
const baseline = Array.from({ length: 8 }, () => pose());

/** A smile: mouth corners move apart. */
function smile(px: number) {
  return FACE.map(([x, y], i) => ([48, 60].includes(i) ? [x - px, y - px / 2] : [54, 64].includes(i) ? [x + px, y - px / 2] : [x, y]) as [number, number]);
}

describe("challenge actions", () => {
  test("turn left/right: yaw from the 5 points must move the asked way", () => {
    const left = new Challenge("turn_left", baseline, 0, 5000);
    expect(left.observe(pose(turn(FACE, -0.05)), 500)).toBe("pending");
    expect(left.observe(pose(turn(FACE, 0.3)), 700)).toBe("passed");
    expect(left.report()).toMatchObject({ action: "turn_left", outcome: "passed", reactionMs: 700 });
    const right = new Challenge("turn_right", baseline, 0, 5000);
    expect(right.observe(pose(turn(FACE, 0.05)), 500)).toBe("pending");
    expect(right.observe(pose(turn(FACE, -0.3)), 900)).toBe("passed");
    // Turning the other way first (a replay turning at random) fails the challenge at once.
    const wrong = new Challenge("turn_right", baseline, 0, 5000);
    expect(wrong.observe(pose(turn(FACE, 0.3)), 500)).toBe("failed");
    expect(wrong.observe(pose(turn(FACE, -0.3)), 900)).toBe("failed");
    expect(wrong.report()).toMatchObject({ outcome: "failed", instead: "turn_left" });
    // So does a turn when a smile or a blink was asked (but not a blink during a turn: people blink anytime).
    const busy = new Challenge("smile", baseline, 0, 5000);
    expect(busy.observe(pose(blink(FACE, 0.8)), 400)).toBe("pending");
    expect(busy.observe(pose(turn(FACE, 0.3)), 600)).toBe("failed");
    expect(busy.report().instead).toBe("turn_left");
    const blinking = new Challenge("turn_left", baseline, 0, 5000);
    expect(blinking.observe(pose(blink(FACE, 0.8)), 400)).toBe("pending");
  });

  test("blink (eye aspect ratio) and smile (mouth width); talking is neither", () => {
    const b = new Challenge("blink", baseline, 0, 5000);
    expect(b.observe(pose(openMouth(FACE, 15)), 400)).toBe("pending");
    expect(b.observe(pose(blink(FACE, 0.7)), 800)).toBe("passed");
    const s = new Challenge("smile", baseline, 0, 5000);
    expect(s.observe(pose(blink(FACE, 0.7)), 400)).toBe("pending");
    expect(s.observe(pose(smile(8)), 600)).toBe("passed");
  });

  test("the action must come after a reaction time and before the deadline", () => {
    const early = new Challenge("blink", baseline, 1000, 3000);
    expect(early.observe(pose(blink(FACE, 0.8)), 1100)).toBe("pending");
    expect(early.observe(pose(), 2000)).toBe("pending");
    expect(early.observe(pose(blink(FACE, 0.8)), 4000)).toBe("failed");
    expect(early.report().outcome).toBe("failed");
  });

  test("a track in challenge mode: passive first, then a challenge, then live; failures run out", () => {
    const settings = {
      mode: "challenge" as const,
      evidenceFrames: 2,
      windowMs: 6000,
      minFrames: 6,
      challengeActions: ["blink" as const],
      challengeTimeoutMs: 3000,
      challengeAttempts: 2,
    };
    const track = new TrackLiveness(settings, () => 0);
    let t = 0;
    const frame = (p = FACE) => track.observe({ landmarks: five(p), landmarks68: p }, (t += 200), true);
    // Talking makes the face live passively; the challenge follows.
    const transitions: string[] = [];
    for (let i = 0; i < 6; i++) transitions.push(...frame(openMouth(FACE, i % 2 ? 25 : 0)).transitions);
    expect(transitions).toContain("live");
    expect(transitions).toContain("challenge_issued");
    expect(track.state()).toBe("challenge");
    frame();
    frame();
    expect(frame(blink(FACE, 0.8)).transitions).toContain("challenge_passed");
    expect(track.state()).toBe("live");
    expect(track.report(t).challenges?.[0]).toMatchObject({ action: "blink", outcome: "passed" });

    // A replay that never blinks when asked: two challenges fail, then the face is refused.
    const replay = new TrackLiveness(settings, () => 0);
    let u = 0;
    const seen: string[] = [];
    for (let i = 0; i < 60; i++) seen.push(...replay.observe({ landmarks: five(FACE), landmarks68: openMouth(FACE, i % 2 ? 25 : 0) }, (u += 200), true).transitions);
    expect(seen.filter((s) => s === "challenge_failed")).toHaveLength(2);
    expect(replay.state()).toBe("challenge_failed");
  });

  test("the prompt waits for a calm face; a face that never calms down is not asked and is refused", () => {
    expect(isCalm([pose(), pose(), pose(), pose()])).toBe(true);
    expect(isCalm([pose(), pose(), pose()])).toBe(false); // not enough frames yet
    expect(isCalm([pose(), pose(turn(FACE, 0.1)), pose(), pose()])).toBe(false);
    expect(isCalm([pose(), pose(blink(FACE, 0.8)), pose(), pose()])).toBe(false);
    expect(isCalm([pose(), pose(smile(6)), pose(), pose()])).toBe(false);
    const settings = {
      mode: "challenge" as const,
      evidenceFrames: 2,
      windowMs: 3000,
      minFrames: 6,
      challengeActions: ["blink" as const],
      challengeTimeoutMs: 3000,
      challengeAttempts: 2,
    };
    // A replay that turns all the time: live passively (parallax), never calm, never prompted.
    const busy = new TrackLiveness(settings, () => 0);
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      const p = turn(FACE, 0.3 * Math.sin(i * 1.3));
      seen.push(...busy.observe({ landmarks: five(p), landmarks68: p }, i * 200, true).transitions);
    }
    expect(seen).toContain("live");
    expect(seen).not.toContain("challenge_issued");
    expect(busy.state()).toBe("challenge_failed");
  });
});
