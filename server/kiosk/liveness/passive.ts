/**
 * Passive liveness of one tracked face: a face is `live` once enough of its frames show motion a
 * flat picture cannot make (see ./features.ts), `flat` when its window ends without that evidence.
 *
 * Each new frame is compared with each of the track's previous few frames (lags 1..MAX_LAG); a
 * frame is evidence when, for some lag, a signal exceeds its threshold. Thresholds were set from
 * the noise that landmark jitter gives photos (a still looped, zoomed and panned, rotated and
 * tilted) on 4 of the 8 selfie clips, about 1.4-2x above the largest value seen there; the other
 * 4 clips and the Hamilton clip were held out (README, "Liveness"). Small faces jitter more in
 * interocular units, so thresholds grow below REFERENCE_IOD_PX.
 */
import { normalizeShape, interocular, type Pt } from "./geometry.ts";
import { pairSignals, SIGNALS, type PairSignals, type Signal } from "./features.ts";

export const PASSIVE_THRESHOLDS: Readonly<PairSignals> = { rigid: 0.07, eyes: 0.07, mouth: 0.12, ear: 0.1, mar: 0.2 };
/** Interocular distance (px) above which thresholds apply as they are; below, they scale up. */
export const REFERENCE_IOD_PX = 80;
/** Faces with eyes closer than this (px) are too small to judge: no evidence either way. */
export const MIN_IOD_PX = 20;
/** Frames a new frame is compared with. */
export const MAX_LAG = 8;

export type PassiveState = "checking" | "live" | "flat";

export interface PassiveOptions {
  /** Frames with evidence needed to be live. */
  evidenceFrames: number;
  /** A face still without enough evidence this long after its first usable frame is flat… */
  windowMs: number;
  /** …provided this many usable frames were seen (a slow server does not turn people flat). */
  minFrames: number;
}

export interface PassiveEvidence {
  state: PassiveState;
  /** Frames that showed motion a flat picture cannot make. */
  evidenceFrames: number;
  /** Usable frames seen (face large enough, 68 landmarks). */
  frames: number;
  /** Highest signal over its threshold seen so far (>= 1: that frame was evidence). */
  score: number;
  /** Frames in which each signal exceeded its threshold. */
  signals: Record<Signal, number>;
  /** Time from the first usable frame to the decision (or so far). */
  elapsedMs: number;
  /** For flat: whether the picture did not move at all (a still) or moved as one plane. */
  reason?: "no_motion" | "planar_motion";
}

interface Sample {
  shape: [number, number][];
  at: number;
}

/** Landmark motion (interocular units) below which two frames count as the same picture. */
const STILL_MOTION = 0.01;

export class PassiveLiveness {
  private readonly samples: Sample[] = [];
  private state: PassiveState = "checking";
  private evidence = 0;
  private frames = 0;
  private best = 0;
  private maxMotion = 0;
  private firstAt: number | null = null;
  private decidedAt: number | null = null;
  private readonly signals: Record<Signal, number> = { rigid: 0, eyes: 0, mouth: 0, ear: 0, mar: 0 };

  constructor(private options: PassiveOptions) {}

  setOptions(options: PassiveOptions): void {
    this.options = options;
  }

  get current(): PassiveState {
    return this.state;
  }

  /** One frame of the face: its 68 landmarks in image pixels (undefined when the engine has none). */
  observe(p68: readonly Pt[] | undefined, now: number): PassiveState {
    if (this.state !== "checking") return this.state;
    if (p68 && p68.length === 68) {
      const iod = interocular(p68);
      if (iod >= MIN_IOD_PX) this.add(normalizeShape(p68), iod, now);
    }
    if (this.state === "checking" && this.firstAt !== null) {
      const { windowMs, minFrames } = this.options;
      if (now - this.firstAt >= windowMs && this.frames >= minFrames) this.decide("flat", now);
    }
    return this.state;
  }

  private add(shape: [number, number][], iod: number, now: number): void {
    this.firstAt ??= now;
    this.frames++;
    const scale = Math.max(1, REFERENCE_IOD_PX / iod);
    let frameScore = 0;
    const fired = new Set<Signal>();
    for (let lag = 1; lag <= Math.min(MAX_LAG, this.samples.length); lag++) {
      const prev = this.samples[this.samples.length - lag].shape;
      const s = pairSignals(prev, shape);
      if (!s) continue;
      for (const name of SIGNALS) {
        const v = s[name] / (PASSIVE_THRESHOLDS[name] * scale);
        if (v > frameScore) frameScore = v;
        if (v >= 1) fired.add(name);
      }
      if (lag === 1) {
        let motion = 0;
        for (let i = 0; i < shape.length; i++) motion = Math.max(motion, Math.hypot(shape[i][0] - prev[i][0], shape[i][1] - prev[i][1]));
        this.maxMotion = Math.max(this.maxMotion, motion);
      }
    }
    this.samples.push({ shape, at: now });
    if (this.samples.length > MAX_LAG) this.samples.shift();
    this.best = Math.max(this.best, frameScore);
    if (frameScore >= 1) {
      this.evidence++;
      for (const name of fired) this.signals[name]++;
      if (this.evidence >= this.options.evidenceFrames) this.decide("live", now);
    }
  }

  private decide(state: PassiveState, now: number): void {
    this.state = state;
    this.decidedAt = now;
  }

  /** The evidence so far (for `result` faces, the `identified` event and the event log). */
  report(now: number): PassiveEvidence {
    const end = this.decidedAt ?? now;
    const r: PassiveEvidence = {
      state: this.state,
      evidenceFrames: this.evidence,
      frames: this.frames,
      score: round3(this.best),
      signals: { ...this.signals },
      elapsedMs: this.firstAt === null ? 0 : Math.max(0, end - this.firstAt),
    };
    // A still hardly moves the landmarks (below the shape's position jitter); a moved picture does.
    if (this.state === "flat") r.reason = this.maxMotion < STILL_MOTION * 3 ? "no_motion" : "planar_motion";
    return r;
  }
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
