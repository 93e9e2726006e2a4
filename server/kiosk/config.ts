/**
 * Kiosk configuration: defaults, bounds and the environment variables that set them.
 *
 * | env | default | meaning |
 * |---|---|---|
 * | KIOSK_CONFIRM_FRAMES | 3 | K: frames of a face that must match the same user |
 * | KIOSK_WINDOW_FRAMES | 5 | N: vote window; N frames without any match → unknown |
 * | KIOSK_COOLDOWN_MS | 30000 | no second identification of the same user (per kiosk) within this time |
 * | KIOSK_THRESHOLD | (service's) | cosine threshold for kiosk recognitions, 0.3..0.99 |
 * | KIOSK_MAX_FACES | 5 | faces per frame reported and tracked |
 * | KIOSK_MAX_FRAME_BYTES | 2097152 | larger frames are refused (error, session stays open) |
 * | KIOSK_IDLE_TIMEOUT_MS | 30000 | a session with no message for this long is closed (4408) |
 * | KIOSK_FRAME_TIMEOUT_MS | 10000 | bound on one frame's recognition call |
 * | KIOSK_MAX_SESSIONS | 64 | concurrent (authenticated) sessions per server; more are closed with 1013 |
 * | KIOSK_MAX_SESSIONS_PER_ADDRESS | 16 | concurrent sessions from one client address; more are closed with 1013 |
 * | KIOSK_AGGREGATE | true | decide each face on the weighted mean of its recent frames' embeddings (search by embedding), votes as a guard |
 * | KIOSK_LIVENESS | passive | off, passive or challenge (sessions may raise it, never lower it) |
 * | KIOSK_LIVENESS_EVIDENCE_FRAMES | 2 | frames with signs of a live face needed before `identified` |
 * | KIOSK_LIVENESS_WINDOW_MS | 6000 | a face without them for this long is `not_live` |
 * | KIOSK_CHALLENGE_ACTIONS | turn_left,turn_right | what challenge mode asks for (also blink, smile) |
 * | KIOSK_CHALLENGE_TIMEOUT_MS | 5000 | time to perform the action |
 * | KIOSK_CHALLENGE_COMPANIES | (none) | companies whose kiosks always run challenge mode (comma-separated) |
 * | STRANGER_EVENTS | off | on: a face that stays unknown for the decision window records an `unknown` event (one per track), for every company |
 * | STRANGER_EVENTS_COMPANIES | (none) | or only for these companies (comma-separated) |
 * | STRANGER_EVENTS_PER_MINUTE | 6 | at most this many unknown events per kiosk in any minute (the rest are counted, not recorded) |
 */
import { z } from "zod";
import { FaceError } from "../../lib/core/mod.ts";
import { ChallengeActionSchema, LivenessModeSchema, SETTINGS_BOUNDS, SettingsSchema, type Settings } from "./protocol.ts";

const commaList = (v: unknown) => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v);

/** on/off (also true/false, 1/0, yes/no); anything else is refused. */
const onOff = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const t = v.trim().toLowerCase();
  return ["on", "true", "1", "yes"].includes(t) ? true : ["off", "false", "0", "no"].includes(t) ? false : v;
}, z.boolean({ error: "expected on or off" }));

const intIn = (b: { min: number; max: number }) => z.coerce.number().int().min(b.min).max(b.max);

export const KioskConfigSchema = z
  .object({
    confirmFrames: intIn(SETTINGS_BOUNDS.confirmFrames).default(3),
    windowFrames: intIn(SETTINGS_BOUNDS.windowFrames).default(5),
    cooldownMs: intIn(SETTINGS_BOUNDS.cooldownMs).default(30_000),
    threshold: z.coerce.number().min(SETTINGS_BOUNDS.threshold.min).max(SETTINGS_BOUNDS.threshold.max).nullable().default(null),
    maxFaces: intIn(SETTINGS_BOUNDS.maxFaces).default(5),
    maxFrameBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(2 * 1024 * 1024),
    idleTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    frameTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
    maxSessions: z.coerce.number().int().min(1).max(100_000).default(64),
    maxSessionsPerAddress: z.coerce.number().int().min(1).max(100_000).default(16),
    aggregate: z.preprocess((v) => (typeof v === "string" ? !["0", "false", "no", "off"].includes(v.trim().toLowerCase()) : v), z.boolean()).default(true),
    liveness: LivenessModeSchema.default("passive"),
    livenessEvidenceFrames: intIn(SETTINGS_BOUNDS.livenessEvidenceFrames).default(2),
    livenessWindowMs: intIn(SETTINGS_BOUNDS.livenessWindowMs).default(6000),
    // Turns by default: replays of expressive videos passed a blink or smile challenge by chance more
    // often (bench:liveness, README "Liveness"); both remain available.
    challengeActions: z.preprocess(commaList, z.array(ChallengeActionSchema).min(1)).default(["turn_left", "turn_right"]),
    challengeTimeoutMs: intIn(SETTINGS_BOUNDS.challengeTimeoutMs).default(5000),
    challengeCompanies: z.preprocess(commaList, z.array(z.string().min(1))).default([]),
    strangerEvents: onOff.default(false),
    strangerCompanies: z.preprocess(commaList, z.array(z.string().min(1))).default([]),
    strangerPerMinute: z.coerce.number().int().min(1).max(10_000).default(6),
  })
  .refine((c) => c.confirmFrames <= c.windowFrames, {
    message: "KIOSK_CONFIRM_FRAMES must not exceed KIOSK_WINDOW_FRAMES",
    path: ["confirmFrames"],
  });
export type KioskConfig = z.infer<typeof KioskConfigSchema>;
export type KioskConfigInput = z.input<typeof KioskConfigSchema>;

const ENV: Record<string, keyof KioskConfig> = {
  KIOSK_CONFIRM_FRAMES: "confirmFrames",
  KIOSK_WINDOW_FRAMES: "windowFrames",
  KIOSK_COOLDOWN_MS: "cooldownMs",
  KIOSK_THRESHOLD: "threshold",
  KIOSK_MAX_FACES: "maxFaces",
  KIOSK_MAX_FRAME_BYTES: "maxFrameBytes",
  KIOSK_IDLE_TIMEOUT_MS: "idleTimeoutMs",
  KIOSK_FRAME_TIMEOUT_MS: "frameTimeoutMs",
  KIOSK_MAX_SESSIONS: "maxSessions",
  KIOSK_MAX_SESSIONS_PER_ADDRESS: "maxSessionsPerAddress",
  KIOSK_AGGREGATE: "aggregate",
  KIOSK_LIVENESS: "liveness",
  KIOSK_LIVENESS_EVIDENCE_FRAMES: "livenessEvidenceFrames",
  KIOSK_LIVENESS_WINDOW_MS: "livenessWindowMs",
  KIOSK_CHALLENGE_ACTIONS: "challengeActions",
  KIOSK_CHALLENGE_TIMEOUT_MS: "challengeTimeoutMs",
  KIOSK_CHALLENGE_COMPANIES: "challengeCompanies",
  STRANGER_EVENTS: "strangerEvents",
  STRANGER_EVENTS_COMPANIES: "strangerCompanies",
  STRANGER_EVENTS_PER_MINUTE: "strangerPerMinute",
};

/** Validates a config (explicit values win over the environment); INVALID_ARGUMENT names the variable. */
export function loadKioskConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<KioskConfigInput> = {},
): KioskConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") raw[key] = value;
  }
  Object.assign(raw, overrides);
  const parsed = KioskConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const names = Object.fromEntries(Object.entries(ENV).map(([n, k]) => [k, n]));
    const issues = parsed.error.issues.map((i) => `${names[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`);
    throw new FaceError("INVALID_ARGUMENT", `invalid kiosk configuration: ${issues.join("; ")}`, {
      details: parsed.error.issues,
    });
  }
  return parsed.data;
}

/** The liveness mode a session of this company starts with (the floor its settings cannot go below). */
export function livenessFloor(config: KioskConfig, companyId: string | null): Settings["liveness"] {
  return companyId !== null && config.liveness !== "off" && config.challengeCompanies.includes(companyId)
    ? "challenge"
    : config.liveness;
}

/** Do this company's kiosks record stranger (`unknown`) events? */
export function strangerEventsFor(config: KioskConfig, companyId: string): boolean {
  return config.strangerEvents || config.strangerCompanies.includes(companyId);
}

/** The initial settings of a session, from the config. */
export function defaultSettings(config: KioskConfig, kioskId: string | null = null, companyId: string | null = null): Settings {
  return SettingsSchema.parse({
    confirmFrames: config.confirmFrames,
    windowFrames: config.windowFrames,
    cooldownMs: config.cooldownMs,
    threshold: config.threshold,
    maxFaces: config.maxFaces,
    kioskId,
    liveness: livenessFloor(config, companyId),
    livenessEvidenceFrames: config.livenessEvidenceFrames,
    livenessWindowMs: config.livenessWindowMs,
    challengeActions: [...new Set(config.challengeActions)],
    challengeTimeoutMs: config.challengeTimeoutMs,
  });
}
