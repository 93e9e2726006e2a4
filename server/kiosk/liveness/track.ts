/**
 * Liveness of one tracked face: passive evidence first (./passive.ts), then, in challenge mode,
 * one random action at a time (./challenge.ts) until one is met or the attempts run out.
 */
import { Challenge, facePose, isCalm, BASELINE_FRAMES, type ChallengeAction, type ChallengeReport, type FacePose } from "./challenge.ts";
import type { Pt } from "./geometry.ts";
import { PassiveLiveness, type PassiveEvidence } from "./passive.ts";

export type LivenessMode = "off" | "passive" | "challenge";

export interface LivenessSettings {
  mode: LivenessMode;
  evidenceFrames: number;
  windowMs: number;
  minFrames: number;
  challengeActions: readonly ChallengeAction[];
  challengeTimeoutMs: number;
  challengeAttempts: number;
}

/**
 * - `checking`: not enough evidence yet; `live`: passed (passive, and the challenge in challenge mode);
 * - `flat`: the window ended without signs of a live face (a photo or a screen);
 * - `challenge`: waiting for the asked action; `challenge_failed`: every attempt ran out.
 */
export type LivenessState = "off" | "checking" | "live" | "flat" | "challenge" | "challenge_failed";

export type LivenessTransition = "live" | "flat" | "challenge_issued" | "challenge_passed" | "challenge_failed";

export interface LivenessReport {
  mode: LivenessMode;
  state: LivenessState;
  passive: PassiveEvidence;
  /** Challenges so far, oldest first (challenge mode). */
  challenges?: ChallengeReport[];
}

export interface FaceLandmarks {
  landmarks?: readonly Pt[];
  landmarks68?: readonly Pt[];
}

export class TrackLiveness {
  private readonly passive: PassiveLiveness;
  private readonly poses: FacePose[] = [];
  private challenge: Challenge | null = null;
  private readonly done: ChallengeReport[] = [];
  private failed = false;
  /** When the passive check passed (challenge mode waits for a calm moment from then on). */
  private liveAt: number | null = null;

  constructor(
    private settings: LivenessSettings,
    private readonly random: () => number = Math.random,
  ) {
    this.passive = new PassiveLiveness(settings);
  }

  setSettings(settings: LivenessSettings): void {
    this.settings = settings;
    this.passive.setOptions(settings);
  }

  /** The challenge waiting for an action, if any. */
  get pending(): Challenge | null {
    return this.challenge?.current === "pending" ? this.challenge : null;
  }

  /**
   * One frame of the face. `wanted`: the face matched someone (a challenge is only worth asking of
   * a face that could be identified). Returns the state and what changed in this frame.
   */
  observe(face: FaceLandmarks, now: number, wanted: boolean): { state: LivenessState; transitions: LivenessTransition[] } {
    const transitions: LivenessTransition[] = [];
    if (this.settings.mode === "off") return { state: "off", transitions };
    const before = this.passive.current;
    const passive = this.passive.observe(face.landmarks68, now);
    if (passive !== before) transitions.push(passive === "live" ? "live" : "flat");
    const pose = facePose(face.landmarks, face.landmarks68);

    // The baseline of the next challenge: the face's poses while no challenge is pending.
    if (pose && !this.pending) {
      this.poses.push(pose);
      if (this.poses.length > BASELINE_FRAMES) this.poses.shift();
    }
    if (this.settings.mode === "challenge" && passive === "live" && !this.failed) {
      this.liveAt ??= now;
      if (this.challenge?.current === "pending") {
        const outcome = this.challenge.observe(pose, now);
        if (outcome !== "pending") {
          this.done.push(this.challenge.report());
          transitions.push(outcome === "passed" ? "challenge_passed" : "challenge_failed");
          if (outcome === "failed" && this.done.filter((c) => c.outcome === "failed").length >= this.settings.challengeAttempts) {
            this.failed = true;
          }
        }
      } else if (!this.passed() && this.done.length === 0 && now - this.liveAt >= this.settings.windowMs) {
        // Never calm long enough to be asked: not someone waiting at a kiosk.
        this.failed = true;
        transitions.push("challenge_failed");
      } else if (wanted && !this.passed() && this.settings.challengeActions.length > 0 && isCalm(this.poses)) {
        const actions = this.settings.challengeActions;
        const action = actions[Math.min(actions.length - 1, Math.floor(this.random() * actions.length))];
        this.challenge = new Challenge(action, this.poses.slice(-BASELINE_FRAMES), now, this.settings.challengeTimeoutMs);
        transitions.push("challenge_issued");
      }
    }
    return { state: this.state(), transitions };
  }

  private passed(): boolean {
    return this.done.some((c) => c.outcome === "passed");
  }

  state(): LivenessState {
    if (this.settings.mode === "off") return "off";
    const passive = this.passive.current;
    if (passive !== "live") return passive;
    if (this.settings.mode === "passive") return "live";
    if (this.passed()) return "live";
    if (this.failed) return "challenge_failed";
    return this.pending ? "challenge" : "checking";
  }

  report(now: number): LivenessReport {
    const r: LivenessReport = { mode: this.settings.mode, state: this.state(), passive: this.passive.report(now) };
    if (this.settings.mode === "challenge") {
      r.challenges = [...this.done, ...(this.pending ? [this.pending.report()] : [])];
    }
    return r;
  }
}
