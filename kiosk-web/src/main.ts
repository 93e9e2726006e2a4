/**
 * The kiosk page: camera → JPEG frames over the kiosk WebSocket → boxes, names and a big state
 * line. One frame in flight at a time (the next goes when the result is back), capped at
 * `fps` frames per second; the server drops stale frames anyway, the page just avoids sending them.
 * Here: the state shown (card, prompts, overlay) and the wiring; the frame pump (./frame-pump.ts),
 * the settings dialog (./settings-view.ts) and the enrollment view (./enroll-view.ts) are their own modules.
 */
import type { FaceResult, ServerMessage, Settings } from "../../server/kiosk/protocol.ts";
import type { ChallengeAction } from "../../server/kiosk/liveness/challenge.ts";
import { Camera, listCameras } from "./camera.ts";
import { FramePump } from "./frame-pump.ts";
import { KioskConnection, type ConnectionStatus } from "./connection.ts";
import { $, els } from "./dom.ts";
import { initEnrollView } from "./enroll-view.ts";
import { initSettingsView } from "./settings-view.ts";
import { drawOverlay } from "./overlay.ts";
import { loadSettings, type PageSettings } from "./params.ts";

type View = "kiosk" | "enroll";

let settings: PageSettings = loadSettings();
let view: View = new URL(location.href).searchParams.get("view") === "enroll" ? "enroll" : "kiosk";
const camera = new Camera(els.video);
const pump = new FramePump(camera, els.capture);
let connection: KioskConnection | null = null;
let serverSettings: Settings | null = null;
let sessionId = "";

/** The faces of the latest result (drawn over the preview, summarised on the card). */
let lastFaces: FaceResult[] = [];
/** `name`: the person's display name when they have one (else the id is shown). */
let welcome: { userId: string; name?: string; confidence: number; until: number } | null = null;
/** The company's enrolled users, from `ready` (null: unknown). */
let enrolledUsers: number | null = null;
/** Why the camera cannot be used, in words (null: it works). */
let cameraProblem: string | null = null;
/** The action the server asked for (challenge mode), shown in large letters until it is met or expires. */
let challenge: { action: ChallengeAction; track: number; until: number } | null = null;
let challengeOutcome: { passed: boolean; until: number } | null = null;

const CHALLENGE_TEXT: Record<ChallengeAction, string> = {
  turn_left: "Turn your head a little to your left",
  turn_right: "Turn your head a little to your right",
  blink: "Please blink",
  smile: "Please smile",
};
let transientError: { text: string; until: number } | null = null;

// ---------------------------------------------------------------- state display

/** `name`, when given, follows the headline text and never wraps inside (e.g. "Lin-Manuel"). */
function setState(kind: string, headline: string, subline: string, name?: string): void {
  if (els.state.dataset.state !== kind) els.state.dataset.state = kind;
  const full = name === undefined ? headline : `${headline}${name}`;
  if (els.headline.textContent !== full) {
    if (name === undefined) els.headline.textContent = headline;
    else {
      const span = document.createElement("span");
      span.className = "name";
      span.textContent = name;
      els.headline.replaceChildren(document.createTextNode(headline), span);
    }
    fitHeadline();
  }
  if (els.subline.textContent !== subline) els.subline.textContent = subline;
}

/** Shrinks the headline until the name fits on a line and the whole takes at most two lines. */
function fitHeadline(): void {
  const el = els.headline;
  el.style.fontSize = "";
  let size = Number.parseFloat(getComputedStyle(el).fontSize);
  const min = 24;
  const name = el.querySelector<HTMLElement>(".name");
  const tooBig = () => el.scrollHeight > size * 1.1 * 2.3 || (name !== null && name.offsetWidth > el.clientWidth);
  while (size > min && tooBig()) {
    size = Math.max(min, size * 0.92);
    el.style.fontSize = `${size}px`;
  }
}
window.addEventListener("resize", fitHeadline);

const pct = (c: number) => `${Math.round(c * 100)}%`;

function renderState(): void {
  const now = performance.now();
  if (!settings.company) {
    setState("error", "Set up this kiosk", "Open Settings (S) and enter the company id and API key");
    return;
  }
  if (els.conn.dataset.status === "error") {
    const reason = els.connText.textContent ?? "";
    if (reason.startsWith("COMPANY_NOT_FOUND")) {
      setState("error", "Company not found", `“${settings.company}” does not exist on this server · check the company id in Settings (S)`);
    } else if (reason.startsWith("FORBIDDEN") || reason.startsWith("UNAUTHORIZED")) {
      setState("error", "Access refused", `${reason} · check the API key in Settings (S)`);
    } else setState("error", "Not connected", reason);
    return;
  }
  if (cameraProblem) {
    // The camera is what the person is asked to look at: say what is wrong with it instead.
    setState("error", "Camera unavailable", cameraProblem);
    return;
  }
  if (welcome && welcome.until > now) {
    setState("identified", "Welcome, ", `identified · ${pct(welcome.confidence)}`, welcome.name ?? welcome.userId);
    return;
  }
  if (challenge && challenge.until > now && lastFaces.some((f) => f.track === challenge?.track && f.state === "challenge")) {
    const left = Math.max(0, Math.ceil((challenge.until - now) / 1000));
    setState("challenge", CHALLENGE_TEXT[challenge.action], `to check you are here in person · ${left} s`);
    return;
  }
  if (challengeOutcome && challengeOutcome.until > now && !challengeOutcome.passed) {
    setState("unknown", "Not done in time", "let's try again");
    return;
  }
  const order = ["recognized", "challenge", "checking_liveness", "verifying", "not_live", "unknown", "detecting"] as const;
  const face = order.map((s) => lastFaces.find((f) => f.state === s)).find(Boolean);
  const errorLine = transientError && transientError.until > now ? transientError.text : "";
  if (!connection?.isReady) {
    setState("idle", "Connecting…", els.connText.textContent ?? "");
    return;
  }
  if (enrolledUsers === 0) {
    setState("error", "Nobody is enrolled yet", `company “${settings.company}” has no enrolled people · enroll someone first (E)`);
    return;
  }
  if (!face) setState("idle", "Please look at the camera", errorLine || "step closer until your face is in the frame");
  else if (face.state === "recognized") setState("identified", "Welcome, ", `recognized · ${pct(face.confidence)}`, face.name ?? face.userId ?? "");
  else if (face.state === "verifying") setState("verifying", "Verifying…", "hold still for a moment");
  else if (face.state === "checking_liveness" || face.state === "challenge")
    setState("verifying", "Checking you are here in person…", "blink or say hello");
  else if (face.state === "not_live" && face.liveness?.state === "challenge_failed")
    setState("unknown", "Not verified in person", "the asked action was not seen · step out of view and try again");
  else if (face.state === "not_live")
    setState("unknown", "Photo or screen detected", "not accepted · step out of view, then back in person");
  else if (face.state === "unknown") setState("unknown", "Not recognized", "please ask staff to enroll you");
  else setState("detecting", "Looking…", errorLine || "face found, checking");
}

function addRecent(who: string, confidence: number): void {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = `${who} · ${pct(confidence)}`;
  const time = document.createElement("time");
  const at = new Date();
  time.dateTime = at.toISOString();
  time.textContent = at.toLocaleTimeString();
  li.append(name, time);
  els.recent.prepend(li);
  while (els.recent.children.length > 6) els.recent.lastElementChild?.remove();
}

function renderStats(): void {
  const st = pump.stats();
  els.stats.fps.textContent = st.fps ? st.fps.toFixed(1) : "–";
  els.stats.latency.textContent = st.rttMs === null ? "–" : `${Math.round(st.rttMs)} ms`;
  els.stats.server.textContent = st.serverMs === null ? "–" : `${Math.round(st.serverMs)} ms`;
  els.stats.frames.textContent = String(st.frames);
  els.stats.dropped.textContent = String(st.dropped);
}

function renderConnection(status: ConnectionStatus): void {
  const map: Record<ConnectionStatus["kind"], string> = {
    idle: "idle",
    connecting: "connecting",
    connected: "connected",
    reconnecting: "reconnecting",
    failed: "error",
  };
  els.conn.dataset.status = map[status.kind];
  els.connText.textContent =
    status.kind === "idle"
      ? "not connected"
      : status.kind === "connecting"
        ? status.attempt > 1
          ? `connecting (attempt ${status.attempt})…`
          : "connecting…"
        : status.kind === "connected"
          ? "connected"
          : status.kind === "reconnecting"
            ? `reconnecting in ${Math.ceil(status.inMs / 1000)} s (${status.reason})`
            : status.reason;
  renderState();
}

// ---------------------------------------------------------------- connection and frames

function onMessage(message: ServerMessage): void {
  switch (message.type) {
    case "ready":
      serverSettings = message.settings;
      enrolledUsers = message.company?.users ?? null;
      // `ready` also answers a settings message; only a new session restarts the frame numbering.
      if (message.sessionId !== sessionId) {
        sessionId = message.sessionId;
        resetFrames();
      }
      break;
    case "result": {
      pump.onResult(message.seq, message.ms, message.dropped);
      lastFaces = message.faces;
      drawOverlay(els.overlay, lastFaces, pump.frameSize.w, pump.frameSize.h, settings.mirror);
      renderState();
      renderStats();
      break;
    }
    case "identified":
      welcome = { userId: message.userId, name: message.name, confidence: message.confidence, until: performance.now() + 5000 };
      document.body.dataset.lastIdentified = message.userId;
      addRecent(message.name ?? message.userId, message.confidence);
      renderState();
      break;
    case "challenge":
      challenge = { action: message.action, track: message.track, until: performance.now() + message.timeoutMs };
      challengeOutcome = null;
      document.body.dataset.challenge = message.action;
      renderState();
      break;
    case "challenge_result":
      challenge = null;
      challengeOutcome = { passed: message.passed, until: performance.now() + 2000 };
      delete document.body.dataset.challenge;
      renderState();
      break;
    case "error":
      if (message.seq !== undefined) pump.settle(message.seq);
      transientError = { text: `${message.code}: ${message.message}`, until: performance.now() + 4000 };
      renderState();
      break;
    case "pong":
      break;
  }
}

function resetFrames(): void {
  pump.reset();
  lastFaces = [];
  drawOverlay(els.overlay, [], pump.frameSize.w, pump.frameSize.h, settings.mirror);
}

function connect(): void {
  connection?.stop();
  connection = null;
  resetFrames();
  els.companyLabel.textContent = settings.company ? `company: ${settings.company}${settings.kiosk ? ` · ${settings.kiosk}` : ""}` : "";
  if (!settings.company) {
    renderState();
    return;
  }
  connection = new KioskConnection({
    company: settings.company,
    key: settings.key,
    kiosk: settings.kiosk,
    onStatus: renderConnection,
    onMessage,
    initialMessages: () => {
      const patch: Record<string, unknown> = {};
      if (settings.window !== null) patch.windowFrames = settings.window;
      if (settings.confirm !== null) patch.confirmFrames = settings.confirm;
      if (settings.liveness === "challenge") patch.liveness = "challenge";
      if (settings.challenge.length > 0) patch.challengeActions = settings.challenge;
      return Object.keys(patch).length ? [{ type: "settings", ...patch }] : [];
    },
  });
  connection.start();
}

function loop(): void {
  if (view === "kiosk") void pump.tick(connection, settings.fps);
  renderState();
  setTimeout(loop, 25);
}
setInterval(renderStats, 500);

// ---------------------------------------------------------------- camera

async function startCamera(): Promise<void> {
  els.cameraMessage.hidden = true;
  cameraProblem = null;
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraProblem = "This browser has no camera access (HTTPS or localhost is required).";
    els.cameraMessage.textContent = cameraProblem;
    els.cameraMessage.hidden = false;
    renderState();
    return;
  }
  try {
    await camera.start(settings.camera);
    const vw = els.video.videoWidth || 640;
    const vh = els.video.videoHeight || 480;
    els.viewport.style.setProperty("--ar", `${vw} / ${vh}`);
    await fillCameras();
  } catch (error) {
    const e = error as Error;
    cameraProblem =
      e.name === "NotAllowedError"
        ? "Camera access was refused · allow the camera for this page"
        : e.name === "NotFoundError" || e.name === "OverconstrainedError"
          ? "No camera found · connect one, then choose it in Settings (S)"
          : e.name === "NotReadableError"
            ? "The camera is in use by another program"
            : `${e.message || String(error)}`;
    els.cameraMessage.textContent = `Camera unavailable: ${cameraProblem}`;
    els.cameraMessage.hidden = false;
    renderState();
  }
}

async function fillCameras(): Promise<void> {
  const cameras = await listCameras().catch(() => []);
  const current = settings.camera || camera.deviceId;
  els.setCamera.replaceChildren(
    ...cameras.map((c) => {
      const option = document.createElement("option");
      option.value = c.deviceId;
      option.textContent = c.label;
      option.selected = c.deviceId === current;
      return option;
    }),
  );
}

// ---------------------------------------------------------------- views, settings, keyboard

function setView(next: View): void {
  view = next;
  els.body.dataset.view = next;
  $("kiosk-panel").hidden = next !== "kiosk";
  $("enroll-panel").hidden = next !== "enroll";
  $("btn-kiosk").setAttribute("aria-pressed", String(next === "kiosk"));
  $("btn-enroll").setAttribute("aria-pressed", String(next === "enroll"));
  if (next === "enroll") els.enrollUser.focus();
  else {
    lastFaces = [];
    drawOverlay(els.overlay, [], pump.frameSize.w, pump.frameSize.h, settings.mirror);
  }
}

const settingsView = initSettingsView({
  settings: () => settings,
  serverSettings: () => serverSettings,
  fillCameras: () => void fillCameras(),
  apply(next, { reconnect, recamera }) {
    settings = next;
    els.viewport.classList.toggle("mirror", settings.mirror);
    if (recamera) void startCamera();
    if (reconnect) connect();
  },
});
const openSettings = settingsView.open;

$("btn-settings").addEventListener("click", openSettings);
$("btn-kiosk").addEventListener("click", () => setView("kiosk"));
$("btn-enroll").addEventListener("click", () => setView("enroll"));
$("btn-fullscreen").addEventListener("click", () => toggleFullscreen());

function toggleFullscreen(): void {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen?.().catch(() => {});
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || els.dialog.open) return;
  const target = event.target as HTMLElement | null;
  if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
  const key = event.key.toLowerCase();
  if (key === "s") openSettings();
  else if (key === "e") setView("enroll");
  else if (key === "k") setView("kiosk");
  else if (key === "f") toggleFullscreen();
  else return;
  event.preventDefault();
});

// ---------------------------------------------------------------- start

initEnrollView({ camera, settings: () => settings, openSettings });

els.viewport.classList.toggle("mirror", settings.mirror);
setView(view);
renderConnection({ kind: "idle" });
void startCamera();
connect();
if (!settings.company) openSettings();
loop();
