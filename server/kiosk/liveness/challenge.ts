/**
 * Challenge mode: the kiosk asks for one small random action and checks, on the same tracked face
 * and within a few seconds, that the landmarks show it: a turn (yaw from the 5 points), a blink
 * (eye aspect ratio from the 68) or a smile (mouth width). A replayed video cannot follow a prompt
 * it has not seen, except when it happens to show the action by chance (measured by the bench).
 */
import type { Pt } from "./geometry.ts";
import { eyeAspectRatio, mouthWidth, yaw5 } from "./features.ts";

export const CHALLENGE_ACTIONS = ["turn_left", "turn_right", "blink", "smile"] as const;
export type ChallengeAction = (typeof CHALLENGE_ACTIONS)[number];

/** What must change, relative to the face's median over the frames before the prompt. */
export const CHALLENGE_RULES = {
  /** Yaw (nose offset along the eye line, interocular units) moves this far the asked way. */
  turn: 0.08,
  /** Eye aspect ratio falls to this fraction of its usual value (eyes closing). */
  blink: 0.7,
  /** Mouth width grows by this fraction. */
  smile: 0.1,
} as const;

/** Frames of the face before the prompt kept as its baseline. */
export const BASELINE_FRAMES = 8;
/** The prompt waits until the face's last this many frames are calm (see `isCalm`). */
export const CALM_FRAMES = 4;

/**
 * Calm: over the last CALM_FRAMES poses no action is under way (yaw within half a turn, mouth
 * width within half a smile, no eyes closing). A person waiting at a kiosk is calm within a
 * second; a replayed video of someone talking and turning rarely is, so it is seldom prompted at all,
 * and a prompt that lands during a calm stretch of it must then be followed by chance.
 */
export function isCalm(poses: readonly FacePose[]): boolean {
  if (poses.length < CALM_FRAMES) return false;
  const last = poses.slice(-CALM_FRAMES);
  const range = (v: number[]) => Math.max(...v) - Math.min(...v);
  if (range(last.map((p) => p.yaw)) > CHALLENGE_RULES.turn / 2) return false;
  const widths = last.flatMap((p) => (p.width === null ? [] : [p.width]));
  if (widths.length > 1 && range(widths) / Math.min(...widths) > CHALLENGE_RULES.smile / 2) return false;
  const ears = last.flatMap((p) => (p.ear === null ? [] : [p.ear]));
  if (ears.length > 1 && Math.min(...ears) / Math.max(...ears) < 1 - (1 - CHALLENGE_RULES.blink) / 2) return false;
  return true;
}
/** Ignore the first moments after the prompt: a reaction takes time, a coincidence does not. */
export const REACTION_MS = 300;

export interface FacePose {
  yaw: number;
  ear: number | null;
  width: number | null;
}

export function facePose(p5: readonly Pt[] | undefined, p68: readonly Pt[] | undefined): FacePose | null {
  if (!p5 || p5.length !== 5) return null;
  return {
    yaw: yaw5(p5),
    ear: p68 && p68.length === 68 ? eyeAspectRatio(p68) : null,
    width: p68 && p68.length === 68 ? mouthWidth(p68) : null,
  };
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};

export type ChallengeOutcome = "pending" | "passed" | "failed";

export interface ChallengeReport {
  action: ChallengeAction;
  outcome: ChallengeOutcome;
  /** How far the face went towards the asked action (1 = the rule's amount). */
  progress: number;
  issuedAt: number;
  deadline: number;
  /** Time from the prompt to the action (passed only). */
  reactionMs?: number;
  /** The challenge failed because the face did this other action first (e.g. turned the other way). */
  instead?: ChallengeAction;
}

export class Challenge {
  private outcome: ChallengeOutcome = "pending";
  private best = 0;
  private passedAt: number | null = null;
  private wrong: ChallengeAction | null = null;
  private readonly base: { yaw: number; ear: number; width: number };

  constructor(
    readonly action: ChallengeAction,
    baseline: readonly FacePose[],
    readonly issuedAt: number,
    readonly timeoutMs: number,
  ) {
    this.base = {
      yaw: median(baseline.map((p) => p.yaw)),
      ear: median(baseline.flatMap((p) => (p.ear === null ? [] : [p.ear]))),
      width: median(baseline.flatMap((p) => (p.width === null ? [] : [p.width]))),
    };
  }

  get deadline(): number {
    return this.issuedAt + this.timeoutMs;
  }

  get current(): ChallengeOutcome {
    return this.outcome;
  }

  /** One frame of the challenged face. */
  observe(pose: FacePose | null, now: number): ChallengeOutcome {
    if (this.outcome !== "pending") return this.outcome;
    if (now >= this.deadline) {
      this.outcome = "failed";
      return this.outcome;
    }
    if (pose && now - this.issuedAt >= REACTION_MS) {
      const p = this.progressOf(pose);
      // Another action before the asked one is not someone following the prompt: a replayed video
      // turns, smiles and blinks at random and would pass by chance. Turns count against every other
      // action; blinks and smiles against none (people blink anytime, and a turn changes the
      // mouth's apparent width).
      if (p < 1) {
        for (const other of ["turn_left", "turn_right"] as const) {
          if (other === this.action) continue;
          if (this.progressOf(pose, other) >= 1) {
            this.outcome = "failed";
            this.wrong = other;
            return this.outcome;
          }
        }
      }
      if (p > this.best) this.best = p;
      if (p >= 1) {
        this.outcome = "passed";
        this.passedAt = now;
        return this.outcome;
      }
    }
    return this.outcome;
  }

  /** A frame without the face (the track is gone): the challenge cannot be met any more. */
  abandon(): void {
    if (this.outcome === "pending") this.outcome = "failed";
  }

  private progressOf(pose: FacePose, action: ChallengeAction = this.action): number {
    const b = this.base;
    switch (action) {
      case "turn_left":
        return Number.isFinite(b.yaw) ? (pose.yaw - b.yaw) / CHALLENGE_RULES.turn : 0;
      case "turn_right":
        return Number.isFinite(b.yaw) ? (b.yaw - pose.yaw) / CHALLENGE_RULES.turn : 0;
      case "blink":
        if (pose.ear === null || !Number.isFinite(b.ear) || b.ear <= 0) return 0;
        return (1 - pose.ear / b.ear) / (1 - CHALLENGE_RULES.blink);
      case "smile":
        if (pose.width === null || !Number.isFinite(b.width) || b.width <= 0) return 0;
        return (pose.width / b.width - 1) / CHALLENGE_RULES.smile;
    }
  }

  report(): ChallengeReport {
    return {
      action: this.action,
      outcome: this.outcome,
      progress: Math.round(this.best * 100) / 100,
      issuedAt: this.issuedAt,
      deadline: this.deadline,
      ...(this.passedAt !== null ? { reactionMs: this.passedAt - this.issuedAt } : {}),
      ...(this.wrong ? { instead: this.wrong } : {}),
    };
  }
}
