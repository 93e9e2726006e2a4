/**
 * The kiosk WebSocket protocol (`GET /v1/kiosk/ws?company=<id>[&key=<key>][&kiosk=<name>]`).
 *
 * Client → server
 * - binary message: one camera frame, a JPEG (PNG and WebP are accepted too). Frames are numbered
 *   by the server in arrival order starting at 1 (`seq`), so a client that counts what it sends can
 *   match results to frames without putting anything in the frame.
 * - text message: one JSON control message (`ClientMessageSchema`): `auth` (the first message when no
 *   `key` query parameter was given), `settings` (bounded, see `SettingsPatchSchema`), `ping`.
 *
 * Server → client (text, JSON, `ServerMessageSchema`)
 * - `ready` once authenticated: the session id, the effective settings and the limits.
 * - `result` for every processed frame: the faces with their per-face decision state, the
 *   processing time and how many frames were dropped so far (backpressure).
 * - `identified` once a person is confirmed across frames (then a cooldown applies to that user).
 * - `error` for a bad message or frame; the session stays open unless the code is followed by a
 *   close (auth failures, idle timeout).
 * - `pong` answering `ping` (echoing `t` so the client can measure round trips).
 *
 * Close codes (`CLOSE_CODES`): 4400 bad request (no/invalid company), 4401 unauthorized (missing or
 * wrong key, or a frame before auth), 4403 forbidden (key for another company), 4408 idle or auth
 * timeout, 1013 too many sessions (try again later), 1001 server shutting down, 1009 message larger
 * than the transport limit (Bun's own), 1011 internal error.
 */
import { z } from "zod";
import { BBoxSchema, ERROR_CODES, UserIdSchema } from "../../lib/core/mod.ts";
import { CHALLENGE_ACTIONS } from "./liveness/mod.ts";

// ---------------------------------------------------------------- settings

/** Bounds of the per-session settings; the server config and client `settings` messages stay inside them. */
export const SETTINGS_BOUNDS = {
  confirmFrames: { min: 1, max: 30 },
  windowFrames: { min: 1, max: 30 },
  cooldownMs: { min: 0, max: 3_600_000 },
  /** Clients may raise the match threshold, never lower it below 0.3 (about 9/3000 false accepts on LFW). */
  threshold: { min: 0.3, max: 0.99 },
  maxFaces: { min: 1, max: 10 },
  /** Frames with signs of a live face needed before `identified` (fewer than 2: one jittery frame could pass a photo). */
  livenessEvidenceFrames: { min: 2, max: 10 },
  /** Time a face has to show them before it is judged flat. */
  livenessWindowMs: { min: 2000, max: 30_000 },
  /** Time to perform a challenge's action. */
  challengeTimeoutMs: { min: 2000, max: 15_000 },
} as const;

/** Liveness modes, weakest first: a session may move up this list, never down (see session.ts). */
export const LIVENESS_MODES = ["off", "passive", "challenge"] as const;
export const LivenessModeSchema = z.enum(LIVENESS_MODES);
export const ChallengeActionSchema = z.enum(CHALLENGE_ACTIONS);

const int = (b: { min: number; max: number }) => z.number().int().min(b.min).max(b.max);

const settingsFields = z.object({
  /** K: a person is `recognized` when K of the last N frames of a face match the same user. */
  confirmFrames: int(SETTINGS_BOUNDS.confirmFrames),
  /** N: the vote window; a face seen in N frames with no match at all is `unknown`. */
  windowFrames: int(SETTINGS_BOUNDS.windowFrames),
  /** After an `identified` event for a user, the same user is not identified again for this long. */
  cooldownMs: int(SETTINGS_BOUNDS.cooldownMs),
  /** Cosine-similarity threshold passed to recognition; null = the service's configured threshold. */
  threshold: z.number().min(SETTINGS_BOUNDS.threshold.min).max(SETTINGS_BOUNDS.threshold.max).nullable(),
  /** At most this many faces per frame are reported and tracked (largest/most confident first). */
  maxFaces: int(SETTINGS_BOUNDS.maxFaces),
  /** Free-form name of the kiosk, copied into `identified` events. */
  kioskId: z.string().max(128).nullable(),
  /**
   * Liveness before `identified`: `passive` (default) needs signs of a live face in the landmarks
   * of the tracked face; `challenge` also asks for one random action. A client can raise the
   * server's mode, never lower it (`off` only from the server's configuration).
   */
  liveness: LivenessModeSchema,
  livenessEvidenceFrames: int(SETTINGS_BOUNDS.livenessEvidenceFrames),
  livenessWindowMs: int(SETTINGS_BOUNDS.livenessWindowMs),
  /** The actions challenge mode picks from (at random). */
  challengeActions: z.array(ChallengeActionSchema).min(1).max(CHALLENGE_ACTIONS.length)
    .refine((a) => new Set(a).size === a.length, { message: "challengeActions must not repeat" }),
  challengeTimeoutMs: int(SETTINGS_BOUNDS.challengeTimeoutMs),
});

/** The decision settings of one session (defaults in ./config.ts). */
export const SettingsSchema = settingsFields.refine((s) => s.confirmFrames <= s.windowFrames, {
  message: "confirmFrames must not exceed windowFrames",
  path: ["confirmFrames"],
});
export type Settings = z.infer<typeof SettingsSchema>;

/** A partial update; the merged result is validated again (K <= N). */
export const SettingsPatchSchema = settingsFields.partial().strict();
export type SettingsPatch = z.infer<typeof SettingsPatchSchema>;

// ---------------------------------------------------------------- client → server

export const AuthMessageSchema = z.object({ type: z.literal("auth"), key: z.string().min(1).max(512) }).strict();
export const SettingsMessageSchema = SettingsPatchSchema.extend({ type: z.literal("settings") }).strict();
export const PingMessageSchema = z.object({ type: z.literal("ping"), t: z.number().optional() }).strict();

export const ClientMessageSchema = z.discriminatedUnion("type", [
  AuthMessageSchema,
  SettingsMessageSchema,
  PingMessageSchema,
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

/** Text control messages longer than this are refused (they are tiny by design). */
export const MAX_CONTROL_MESSAGE_BYTES = 4096;

// ---------------------------------------------------------------- server → client

export const FaceStateSchema = z.enum([
  "detecting",
  "verifying",
  "checking_liveness",
  "challenge",
  "recognized",
  "not_live",
  "unknown",
]);
/**
 * - `detecting`: a face is seen, fewer than N frames of it, no match yet.
 * - `verifying`: at least one frame matched a user, fewer than K agree yet.
 * - `checking_liveness`: the votes are there, the signs of a live face not yet.
 * - `challenge`: waiting for the asked action (challenge mode; see the `challenge` message).
 * - `recognized`: K of the last N frames of this face matched the same user (`userId`), one of
 *   the last two did (one bad frame is tolerated; a different person in the same place is not),
 *   and the face passed the liveness check.
 * - `not_live`: the face showed no sign of life within the window (a photo or a screen), or failed
 *   every challenge; it is never identified while it stays in view.
 * - `unknown`: N frames of this face and none matched anyone.
 */
export type FaceState = z.infer<typeof FaceStateSchema>;

export const FaceResultSchema = z.object({
  /** [x, y, width, height] in pixels of the frame. */
  bbox: BBoxSchema,
  /** The confirmed user when `recognized`; this frame's match (or null) when `verifying`; else null. */
  userId: UserIdSchema.nullable(),
  /** That user's display name, when they have one. */
  name: z.string().optional(),
  /** Cosine similarity of this frame's best match (0 when nothing is enrolled). */
  confidence: z.number(),
  state: FaceStateSchema,
  /** Session-local id of the tracked face (stable across frames while the face stays in view). */
  track: z.number().int().nonnegative(),
  /** The face's liveness so far (absent when liveness is off). */
  liveness: z
    .object({
      state: z.enum(["checking", "live", "flat", "challenge", "challenge_failed"]),
      /** Frames that showed signs of a live face, and how many are needed. */
      evidence: z.number().int().nonnegative(),
      needed: z.number().int().positive(),
      /** The pending challenge's action and the time left for it. */
      challenge: z.object({ action: ChallengeActionSchema, remainingMs: z.number().nonnegative() }).optional(),
    })
    .optional(),
});
export type FaceResult = z.infer<typeof FaceResultSchema>;

export const LimitsSchema = z.object({
  maxFrameBytes: z.number().int().positive(),
  idleTimeoutMs: z.number().int().positive(),
});

export const ReadyMessageSchema = z.object({
  type: z.literal("ready"),
  sessionId: z.string(),
  companyId: z.string(),
  settings: SettingsSchema,
  limits: LimitsSchema,
  /** The company's enrolled users when the server could tell (0: nobody can be recognized yet). */
  company: z.object({ users: z.number().int().nonnegative() }).optional(),
});

export const ResultMessageSchema = z.object({
  type: z.literal("result"),
  /** Server-side number of the frame (1-based, arrival order). */
  seq: z.number().int().positive(),
  faces: z.array(FaceResultSchema),
  /** Recognition time of this frame on the server, in milliseconds. */
  ms: z.number().nonnegative(),
  /** Frames dropped so far in this session (replaced by a newer one while the server was busy). */
  dropped: z.number().int().nonnegative(),
});

export const IdentifiedMessageSchema = z.object({
  type: z.literal("identified"),
  seq: z.number().int().positive(),
  userId: UserIdSchema,
  /** The person's display name, when they have one ("Welcome, Ada"). */
  name: z.string().optional(),
  /** Mean cosine similarity over the frames that confirmed the person. */
  confidence: z.number(),
  bbox: BBoxSchema,
  /** ISO 8601 time of the decision. */
  at: z.string(),
  /** The liveness evidence behind the decision (./liveness/track.ts LivenessReport); absent when off. */
  liveness: z.record(z.string(), z.unknown()).optional(),
});

/** Challenge mode: the page shows the action in large letters; the same face must perform it in time. */
export const ChallengeMessageSchema = z.object({
  type: z.literal("challenge"),
  seq: z.number().int().positive(),
  track: z.number().int().nonnegative(),
  action: ChallengeActionSchema,
  timeoutMs: z.number().int().positive(),
  /** 1 for the first challenge of this face, then 2, 3… after a failed one. */
  attempt: z.number().int().positive(),
});

/** The outcome of a challenge (the page says "Thank you" or asks again). */
export const ChallengeResultMessageSchema = z.object({
  type: z.literal("challenge_result"),
  seq: z.number().int().positive(),
  track: z.number().int().nonnegative(),
  action: ChallengeActionSchema,
  passed: z.boolean(),
});

export const ErrorMessageSchema = z.object({
  type: z.literal("error"),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  /** The frame the error is about, when it is about a frame. */
  seq: z.number().int().positive().optional(),
});

export const PongMessageSchema = z.object({ type: z.literal("pong"), t: z.number().optional() });

export const ServerMessageSchema = z.discriminatedUnion("type", [
  ReadyMessageSchema,
  ResultMessageSchema,
  IdentifiedMessageSchema,
  ChallengeMessageSchema,
  ChallengeResultMessageSchema,
  ErrorMessageSchema,
  PongMessageSchema,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type ReadyMessage = z.infer<typeof ReadyMessageSchema>;
export type ResultMessage = z.infer<typeof ResultMessageSchema>;
export type IdentifiedMessage = z.infer<typeof IdentifiedMessageSchema>;
export type ErrorMessage = z.infer<typeof ErrorMessageSchema>;
export type ChallengeMessage = z.infer<typeof ChallengeMessageSchema>;

export const CLOSE_CODES = {
  goingAway: 1001,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  /** The company does not exist (COMPANY_NOT_FOUND): a mistyped company id, or one deleted. */
  notFound: 4404,
  timeout: 4408,
} as const;
