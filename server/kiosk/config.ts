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
 */
import { z } from "zod";
import { FaceError } from "../../lib/core/mod.ts";
import { SETTINGS_BOUNDS, SettingsSchema, type Settings } from "./protocol.ts";

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

/** The initial settings of a session, from the config. */
export function defaultSettings(config: KioskConfig, kioskId: string | null = null): Settings {
  return SettingsSchema.parse({
    confirmFrames: config.confirmFrames,
    windowFrames: config.windowFrames,
    cooldownMs: config.cooldownMs,
    threshold: config.threshold,
    maxFaces: config.maxFaces,
    kioskId,
  });
}
