/**
 * Page settings: from the URL (`/kiosk?company=<id>&key=<key>&kiosk=<name>&camera=<deviceId>&fps=8
 * &confirm=3&window=5&mirror=0&view=enroll&same=0.5`), else from the settings panel (kept in localStorage so
 * a kiosk restarts connected). URL values win over stored ones.
 */
import { DEFAULT_SAME_PERSON_THRESHOLD } from "./consistency.ts";

export interface PageSettings {
  company: string;
  key: string;
  kiosk: string;
  camera: string;
  /** Cap on frames sent per second. */
  fps: number;
  /** Optional decision overrides sent as a `settings` message (null: the server's defaults). */
  confirm: number | null;
  window: number | null;
  mirror: boolean;
  /** Enrollment: cosine similarity a frame needs with the person's other frames (URL `same=`, 0.3–0.95). */
  same: number;
  /** `challenge` asks the server for challenge mode on this kiosk (URL `liveness=challenge`); "" = the server's mode. */
  liveness: "" | "challenge";
  /** Challenge actions to pick from (URL `challenge=blink,smile`); empty = the server's. */
  challenge: string[];
}

const ACTIONS = ["turn_left", "turn_right", "blink", "smile"];

const STORAGE_KEY = "facegate.kiosk.settings";

export const DEFAULTS: PageSettings = {
  company: "",
  key: "",
  kiosk: "",
  camera: "",
  fps: 8,
  confirm: null,
  window: null,
  mirror: true,
  same: DEFAULT_SAME_PERSON_THRESHOLD,
  liveness: "",
  challenge: [],
};

function clampInt(value: unknown, min: number, max: number): number | null {
  const n = typeof value === "number" ? value : Number.parseInt(String(value ?? ""), 10);
  if (!Number.isFinite(n)) return null;
  return Math.min(max, Math.max(min, Math.round(n)));
}

function sanitize(raw: Partial<Record<keyof PageSettings, unknown>>): Partial<PageSettings> {
  const out: Partial<PageSettings> = {};
  const str = (v: unknown, max: number) => (typeof v === "string" ? v.trim().slice(0, max) : undefined);
  const company = str(raw.company, 128);
  if (company !== undefined) out.company = company;
  const key = str(raw.key, 512);
  if (key !== undefined) out.key = key;
  const kiosk = str(raw.kiosk, 128);
  if (kiosk !== undefined) out.kiosk = kiosk;
  const camera = str(raw.camera, 512);
  if (camera !== undefined) out.camera = camera;
  if (raw.fps !== undefined && raw.fps !== null && raw.fps !== "") out.fps = clampInt(raw.fps, 1, 30) ?? DEFAULTS.fps;
  if (raw.confirm !== undefined) out.confirm = raw.confirm === null || raw.confirm === "" ? null : clampInt(raw.confirm, 1, 30);
  if (raw.window !== undefined) out.window = raw.window === null || raw.window === "" ? null : clampInt(raw.window, 1, 30);
  if (raw.same !== undefined && raw.same !== null && raw.same !== "") {
    const n = Number.parseFloat(String(raw.same));
    out.same = Number.isFinite(n) ? Math.min(0.95, Math.max(0.3, n)) : DEFAULTS.same;
  }
  if (raw.liveness !== undefined) out.liveness = raw.liveness === "challenge" ? "challenge" : "";
  if (raw.challenge !== undefined) {
    const list = Array.isArray(raw.challenge) ? raw.challenge : String(raw.challenge ?? "").split(",");
    out.challenge = [...new Set(list.map((a) => String(a).trim()).filter((a) => ACTIONS.includes(a)))];
  }
  if (raw.mirror !== undefined) out.mirror = raw.mirror === true || raw.mirror === "1" || raw.mirror === "true";
  return out;
}

export function loadSettings(url: URL = new URL(location.href)): PageSettings {
  let stored: Partial<PageSettings> = {};
  try {
    stored = sanitize(JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as Record<string, unknown>);
  } catch {
    // unreadable storage: defaults
  }
  const fromUrl: Record<string, unknown> = {};
  for (const name of ["company", "key", "kiosk", "camera", "fps", "confirm", "window", "mirror", "same", "liveness", "challenge"] as const) {
    const value = url.searchParams.get(name);
    if (value !== null) fromUrl[name] = value;
  }
  return { ...DEFAULTS, ...stored, ...sanitize(fromUrl) };
}

export function saveSettings(settings: PageSettings): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    // private mode or full storage: settings still apply for this page
  }
}

export function readForm(form: HTMLFormElement, current: PageSettings): PageSettings {
  const data = new FormData(form);
  return {
    ...current,
    ...sanitize({
      company: data.get("company"),
      key: data.get("key"),
      kiosk: data.get("kiosk"),
      camera: data.get("camera"),
      fps: data.get("fps"),
      confirm: data.get("confirm") ?? "",
      window: data.get("window") ?? "",
      mirror: data.get("mirror") === "on",
    }),
  };
}
