/**
 * Decisions across frames, so one lucky frame does not open a door and one bad frame does not
 * reject a person (ARCHITECTURE §8). Pure logic: recognitions in, per-face states and
 * identifications out; time comes in as an argument.
 *
 * Faces are tracked across frames by box overlap. Each track keeps the recognitions of its last
 * N frames (N = windowFrames):
 * - `recognized` when K (= confirmFrames) of them matched the same user, one of the last two included;
 * - `verifying` when some matched but no user has K votes yet;
 * - `unknown` when the track has N frames and none of them matched;
 * - `detecting` otherwise (fewer than N frames, no match yet).
 * With liveness on, a track with the votes is `checking_liveness` (or `challenge`) until its
 * landmarks show a live face (./liveness/), `not_live` when they do not in time; only then is it
 * `recognized`. When a track becomes `recognized` as a user who was not identified within the
 * cooldown, an identification is emitted (once per track and user). When a track first becomes
 * `unknown` a stranger decision is emitted, and when it first becomes `not_live` a not-live one
 * (once per track each; whether they become events is the session's choice).
 */
import { bboxIou, type BBox, type Recognition } from "../../lib/core/mod.ts";
import {
  TrackLiveness,
  type ChallengeAction,
  type LivenessMode,
  type LivenessReport,
  type LivenessSettings,
  type LivenessState,
  type LivenessTransition,
} from "./liveness/mod.ts";
import { aggregateEmbeddings, frameWeight, type WeightedEmbedding } from "./aggregate.ts";
import type { FaceResult, FaceState } from "./protocol.ts";

/** What a search by the track's aggregated embedding decided (FaceApi.searchEmbedding). */
export interface AggregateDecision {
  userId: string | null;
  confidence: number;
  /** Frames whose embeddings went into the query. */
  frames: number;
}

export interface DecisionSettings {
  confirmFrames: number;
  windowFrames: number;
  cooldownMs: number;
  maxFaces: number;
  /** Default: off (the session passes its settings' mode). */
  liveness?: LivenessMode;
  livenessEvidenceFrames?: number;
  livenessWindowMs?: number;
  challengeActions?: readonly ChallengeAction[];
  challengeTimeoutMs?: number;
}

/** Usable frames a face must have been seen in before it can be judged flat (a slow server is not a photo). */
export const LIVENESS_MIN_FRAMES = 6;
/** Challenges a face gets before it is `not_live`. */
export const CHALLENGE_ATTEMPTS = 2;

function livenessSettings(s: DecisionSettings): LivenessSettings {
  return {
    mode: s.liveness ?? "off",
    evidenceFrames: s.livenessEvidenceFrames ?? 2,
    windowMs: s.livenessWindowMs ?? 6000,
    minFrames: LIVENESS_MIN_FRAMES,
    challengeActions: s.challengeActions ?? ["turn_left", "turn_right"],
    challengeTimeoutMs: s.challengeTimeoutMs ?? 5000,
    challengeAttempts: CHALLENGE_ATTEMPTS,
  };
}

/** A challenge issued in this frame, for the client to show. */
export interface IssuedChallenge {
  track: number;
  action: ChallengeAction;
  timeoutMs: number;
  attempt: number;
}

export interface ChallengeOutcome {
  track: number;
  action: ChallengeAction;
  passed: boolean;
}

export interface Identification {
  userId: string;
  /** Mean similarity over the frames of the window that voted for the user. */
  confidence: number;
  bbox: BBox;
  track: number;
  /** Frames of the window that voted for the user. */
  frames: number;
  /** The liveness evidence (absent when liveness is off). */
  liveness?: LivenessReport;
  /** The aggregate search behind the decision (absent when the frames had no embeddings). */
  aggregate?: AggregateDecision;
}

/** A track that stayed unknown for the decision window (or the same track judged not live). */
export interface TrackVerdict {
  track: number;
  bbox: BBox;
  /** Frames the track has been seen in (its window). */
  frames: number;
  /** The best similarity an enrolled person reached on this track's frames (or its aggregate). */
  bestScore: number;
  /** The liveness evidence at that moment (absent when liveness is off). */
  liveness?: LivenessReport;
}

export interface FrameDecision {
  faces: FaceResult[];
  identified: Identification[];
  /** Tracks judged unknown in this frame (once per track). */
  strangers: TrackVerdict[];
  /** Tracks judged not live in this frame (once per track). */
  notLive: TrackVerdict[];
  /** Challenges issued in this frame (challenge mode). */
  challenges: IssuedChallenge[];
  /** Challenges met or failed in this frame. */
  challengeOutcomes: ChallengeOutcome[];
  /** Liveness decisions in this frame (for the counters). */
  livenessTransitions: LivenessTransition[];
}

interface Observation {
  userId: string | null;
  confidence: number;
}

interface Track {
  id: number;
  bbox: BBox;
  history: Observation[];
  /** Consecutive frames in which the track was not seen. */
  missing: number;
  /** Users this track has already produced an identification for. */
  identified: Set<string>;
  liveness: TrackLiveness;
  /** Challenges issued to this track so far. */
  challenges: number;
  /** Embeddings of its last N frames with their weights (multi-frame aggregation). */
  embeddings: WeightedEmbedding[];
  /** Frames seen in all (the history keeps only the last N). */
  seen: number;
  /** The best score seen on the track (frames and aggregates). */
  bestScore: number;
  /** Verdicts already emitted for this track. */
  reported: Set<"unknown" | "not_live">;
}

/** Minimum overlap (IoU) to continue a track; frames at kiosk rates move faces little. */
const MIN_IOU = 0.15;
/** A track not seen in this many consecutive frames is forgotten. */
const MAX_MISSING = 3;
/** Bound on the cooldown table (oldest entries go first). */
const MAX_COOLDOWN_ENTRIES = 1024;

export class DecisionEngine {
  private tracks: Track[] = [];
  private nextTrackId = 1;
  /**
   * @param lastIdentified userId → time of the last identification (for the cooldown). Pass a shared
   *   map to keep the cooldown across sessions (e.g. the same kiosk reconnecting).
   */
  constructor(
    private settings: DecisionSettings,
    private readonly lastIdentified: Map<string, number> = new Map(),
    /** Picks challenge actions (tests pass a fixed one). */
    private readonly random: () => number = Math.random,
  ) {}

  /** New settings apply from the next frame; histories longer than the new window are trimmed. */
  update(settings: DecisionSettings): void {
    this.settings = settings;
    for (const track of this.tracks) {
      track.history = track.history.slice(-settings.windowFrames);
      track.liveness.setSettings(livenessSettings(settings));
    }
  }

  /** Number of live tracks (bounded by maxFaces + what is still fading out). */
  get trackCount(): number {
    return this.tracks.length;
  }

  private usable(recognitions: readonly Recognition[]): (Recognition & { bbox: BBox })[] {
    return recognitions.filter((r): r is Recognition & { bbox: BBox } => r.bbox !== null).slice(0, this.settings.maxFaces);
  }

  /**
   * The query each face of this frame would be decided on: the weighted mean of its track's recent
   * embeddings and this frame's (nothing changes until `observe`). Faces without an embedding
   * (the service was not asked for them) get none.
   */
  aggregates(recognitions: readonly Recognition[]): { face: Recognition; embedding: number[]; frames: number }[] {
    const faces = this.usable(recognitions);
    const assigned = this.assign(faces.map((f) => f.bbox));
    const out: { face: Recognition; embedding: number[]; frames: number }[] = [];
    faces.forEach((face, i) => {
      if (!face.embedding) return;
      const track = assigned[i];
      const items = [...(track?.embeddings ?? []), { embedding: face.embedding, weight: frameWeight(face, track?.bbox) }]
        .slice(-this.settings.windowFrames);
      const embedding = aggregateEmbeddings(items);
      if (embedding) out.push({ face, embedding, frames: items.length });
    });
    return out;
  }

  /**
   * Feeds the recognitions of one frame (faces with a bbox), returns the states and identifications.
   * `aggregates`: what the search by each face's aggregated embedding decided (see `aggregates()`);
   * the face is then decided on the aggregate, with the K-of-N votes of single frames as a guard.
   */
  observe(recognitions: readonly Recognition[], now: number, aggregates?: ReadonlyMap<Recognition, AggregateDecision>): FrameDecision {
    const { windowFrames, maxFaces } = this.settings;
    const faces = this.usable(recognitions);

    const assigned = this.assign(faces.map((f) => f.bbox));
    const seen = new Set<Track>();
    const results: FaceResult[] = [];
    const identified: Identification[] = [];
    const challenges: IssuedChallenge[] = [];
    const challengeOutcomes: ChallengeOutcome[] = [];
    const livenessTransitions: LivenessTransition[] = [];
    const strangers: TrackVerdict[] = [];
    const notLive: TrackVerdict[] = [];
    const live = livenessSettings(this.settings);

    faces.forEach((face, i) => {
      let track = assigned[i];
      if (!track) {
        track = {
          id: this.nextTrackId++,
          bbox: face.bbox,
          history: [],
          missing: 0,
          identified: new Set(),
          liveness: new TrackLiveness(live, this.random),
          challenges: 0,
          embeddings: [],
          seen: 0,
          bestScore: 0,
          reported: new Set(),
        };
        this.tracks.push(track);
      }
      seen.add(track);
      if (face.embedding) {
        track.embeddings.push({ embedding: face.embedding, weight: frameWeight(face, track.bbox) });
        if (track.embeddings.length > windowFrames) track.embeddings.splice(0, track.embeddings.length - windowFrames);
      }
      track.bbox = face.bbox;
      track.missing = 0;
      track.seen++;
      track.history.push({ userId: face.userId, confidence: face.confidence });
      if (track.history.length > windowFrames) track.history.splice(0, track.history.length - windowFrames);

      const agg = aggregates?.get(face);
      track.bestScore = Math.max(track.bestScore, face.confidence, agg?.confidence ?? 0);
      const voted = this.classify(track, face.userId);
      // The aggregate decides; the votes guard: both must name the same user to recognize.
      if (agg && voted.state === "recognized" && agg.userId !== voted.userId) {
        voted.state = "verifying";
        voted.userId = agg.userId ?? face.userId;
        voted.votes = [];
      }
      const { userId, votes } = voted;
      const pendingBefore = track.liveness.pending;
      const lv = track.liveness.observe(face, now, voted.state === "verifying" || voted.state === "recognized");
      livenessTransitions.push(...lv.transitions);
      if (lv.transitions.includes("challenge_passed") || lv.transitions.includes("challenge_failed")) {
        if (pendingBefore) {
          challengeOutcomes.push({ track: track.id, action: pendingBefore.action, passed: lv.transitions.includes("challenge_passed") });
        }
      }
      const pending = track.liveness.pending;
      if (lv.transitions.includes("challenge_issued") && pending) {
        challenges.push({ track: track.id, action: pending.action, timeoutMs: pending.timeoutMs, attempt: ++track.challenges });
      }
      const state = withLiveness(voted.state, lv.state);
      // One confidence per person: the aggregate's score once it decides, else this frame's.
      const shown = agg && agg.userId !== null && agg.userId === userId ? agg.confidence : face.confidence;
      const result: FaceResult = { bbox: face.bbox, userId: state === "not_live" ? null : userId, confidence: shown, state, track: track.id };
      if (lv.state !== "off") {
        result.liveness = {
          state: lv.state,
          evidence: track.liveness.report(now).passive.evidenceFrames,
          needed: live.evidenceFrames,
          ...(pending ? { challenge: { action: pending.action, remainingMs: Math.max(0, pending.deadline - now) } } : {}),
        };
      }
      results.push(result);
      if ((state === "unknown" || state === "not_live") && !track.reported.has(state)) {
        track.reported.add(state);
        const verdict: TrackVerdict = {
          track: track.id,
          bbox: face.bbox,
          frames: track.seen,
          bestScore: track.bestScore,
          ...(lv.state !== "off" ? { liveness: track.liveness.report(now) } : {}),
        };
        (state === "unknown" ? strangers : notLive).push(verdict);
      }

      if (state === "recognized" && userId !== null && !track.identified.has(userId)) {
        track.identified.add(userId);
        const last = this.lastIdentified.get(userId);
        if (last === undefined || now - last >= this.settings.cooldownMs) {
          this.remember(userId, now);
          const confidence = agg ? agg.confidence : votes.reduce((sum, o) => sum + o.confidence, 0) / votes.length;
          identified.push({
            userId,
            confidence,
            ...(agg ? { aggregate: agg } : {}),
            bbox: face.bbox,
            track: track.id,
            frames: votes.length,
            ...(lv.state !== "off" ? { liveness: track.liveness.report(now) } : {}),
          });
        }
      }
    });

    // Age the tracks not seen in this frame; forget the ones gone for a while.
    for (const track of this.tracks) if (!seen.has(track)) track.missing++;
    this.tracks = this.tracks.filter((t) => t.missing <= MAX_MISSING);
    // Bound: never more tracks than a few frames' worth of faces.
    if (this.tracks.length > maxFaces * 2) {
      this.tracks.sort((a, b) => a.missing - b.missing);
      this.tracks.length = maxFaces * 2;
    }
    return { faces: results, identified, strangers, notLive, challenges, challengeOutcomes, livenessTransitions };
  }

  private classify(track: Track, current: string | null): { state: FaceState; userId: string | null; votes: Observation[] } {
    const { confirmFrames, windowFrames } = this.settings;
    const counts = new Map<string, number>();
    for (const o of track.history) if (o.userId !== null) counts.set(o.userId, (counts.get(o.userId) ?? 0) + 1);

    let leader: string | null = null;
    let leaderVotes = 0;
    for (const [userId, n] of counts) {
      // Ties go to the user the current frame matched, so the label follows the latest evidence.
      if (n > leaderVotes || (n === leaderVotes && userId === current)) {
        leader = userId;
        leaderVotes = n;
      }
    }
    // Recognized needs K votes and a match in one of the last two frames: one bad frame keeps the
    // person recognized, but someone else stepping into the same place does not inherit the name.
    const recent = track.history.slice(-2).some((o) => o.userId === leader);
    if (leader !== null && leaderVotes >= confirmFrames && recent) {
      return { state: "recognized", userId: leader, votes: track.history.filter((o) => o.userId === leader) };
    }
    // While verifying, show only what this frame matched (never an older frame's name).
    if (leader !== null) return { state: "verifying", userId: current, votes: [] };
    if (track.history.length >= windowFrames) return { state: "unknown", userId: null, votes: [] };
    return { state: "detecting", userId: null, votes: [] };
  }

  /** Greedy assignment of boxes to existing tracks by decreasing overlap. */
  private assign(boxes: readonly BBox[]): (Track | undefined)[] {
    const pairs: { i: number; track: Track; overlap: number }[] = [];
    boxes.forEach((box, i) => {
      for (const track of this.tracks) {
        const overlap = bboxIou(box, track.bbox);
        if (overlap >= MIN_IOU) pairs.push({ i, track, overlap });
      }
    });
    pairs.sort((a, b) => b.overlap - a.overlap);
    const result: (Track | undefined)[] = new Array(boxes.length);
    const used = new Set<Track>();
    for (const { i, track } of pairs) {
      if (result[i] || used.has(track)) continue;
      result[i] = track;
      used.add(track);
    }
    return result;
  }

  private remember(userId: string, now: number): void {
    this.lastIdentified.delete(userId);
    this.lastIdentified.set(userId, now);
    // Entries older than the cooldown no longer matter; beyond that, drop the oldest (Map keeps insertion order).
    for (const [id, at] of this.lastIdentified) {
      if (this.lastIdentified.size <= MAX_COOLDOWN_ENTRIES && now - at < this.settings.cooldownMs) break;
      this.lastIdentified.delete(id);
    }
  }
}

/** The face's state once liveness is taken into account: the votes alone never identify. */
function withLiveness(voted: FaceState, liveness: LivenessState): FaceState {
  if (liveness === "off" || liveness === "live") return voted;
  if (liveness === "flat" || liveness === "challenge_failed") return "not_live";
  if (voted !== "recognized") return voted;
  return liveness === "challenge" ? "challenge" : "checking_liveness";
}
