/**
 * The kiosk page: camera → JPEG frames over the kiosk WebSocket → boxes, names and a big state
 * line. One frame in flight at a time (the next goes when the result is back), capped at
 * `fps` frames per second; the server drops stale frames anyway, the page just avoids sending them.
 */
import type { FaceResult, ServerMessage, Settings } from "../../server/kiosk/protocol.ts";
import type { ChallengeAction } from "../../server/kiosk/liveness/challenge.ts";
import { Camera, listCameras } from "./camera.ts";
import { KioskConnection, type ConnectionStatus } from "./connection.ts";
import { enroll } from "./enroll.ts";
import { drawOverlay } from "./overlay.ts";
import { loadSettings, readForm, saveSettings, type PageSettings } from "./params.ts";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

const els = {
  body: document.body,
  conn: $("conn"),
  connText: $("conn-text"),
  companyLabel: $("company-label"),
  viewport: $("viewport"),
  video: $<HTMLVideoElement>("video"),
  overlay: $<HTMLCanvasElement>("overlay"),
  capture: $<HTMLCanvasElement>("capture"),
  cameraMessage: $("camera-message"),
  state: $("state"),
  headline: $("headline"),
  subline: $("subline"),
  recent: $<HTMLOListElement>("recent"),
  enrollForm: $<HTMLFormElement>("enroll-form"),
  enrollUser: $<HTMLInputElement>("enroll-user"),
  enrollCount: $<HTMLInputElement>("enroll-count"),
  enrollInterval: $<HTMLInputElement>("enroll-interval"),
  enrollCreateCompany: $<HTMLInputElement>("enroll-create-company"),
  enrollExisting: $<HTMLInputElement>("enroll-existing"),
  enrollGo: $<HTMLButtonElement>("enroll-go"),
  enrollStatus: $("enroll-status"),
  enrollShots: $("enroll-shots"),
  dialog: $<HTMLDialogElement>("settings"),
  settingsForm: $<HTMLFormElement>("settings-form"),
  setCompany: $<HTMLInputElement>("set-company"),
  setKey: $<HTMLInputElement>("set-key"),
  setKiosk: $<HTMLInputElement>("set-kiosk"),
  setCamera: $<HTMLSelectElement>("set-camera"),
  setFps: $<HTMLInputElement>("set-fps"),
  setConfirm: $<HTMLInputElement>("set-confirm"),
  setWindow: $<HTMLInputElement>("set-window"),
  setMirror: $<HTMLInputElement>("set-mirror"),
  stats: {
    fps: $("stat-fps"),
    latency: $("stat-latency"),
    server: $("stat-server"),
    frames: $("stat-frames"),
    dropped: $("stat-dropped"),
  },
};

type View = "kiosk" | "enroll";

let settings: PageSettings = loadSettings();
let view: View = new URL(location.href).searchParams.get("view") === "enroll" ? "enroll" : "kiosk";
const camera = new Camera(els.video);
let connection: KioskConnection | null = null;
let serverSettings: Settings | null = null;
let sessionId = "";

// Frames in flight: seq → when it was sent and the size it was sent at (results come in that space).
let sentSeq = 0;
const inFlight = new Map<number, { at: number; w: number; h: number }>();
let encoding = false;
let lastSentAt = 0;
let framesSent = 0;
let lastFaces: FaceResult[] = [];
let lastFrameSize = { w: 640, h: 480 };
const resultTimes: number[] = [];
const latencies: number[] = [];
const serverMs: number[] = [];
let dropped = 0;
let welcome: { userId: string; confidence: number; until: number } | null = null;
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
    setState("identified", "Welcome, ", `identified · ${pct(welcome.confidence)}`, welcome.userId);
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
  if (!face && enrolledUsers === 0) {
    setState("error", "Nobody is enrolled yet", `company “${settings.company}” has no enrolled people · enroll someone first (E)`);
    return;
  }
  if (!face) setState("idle", "Please look at the camera", errorLine || "step closer until your face is in the frame");
  else if (face.state === "recognized") setState("identified", "Welcome, ", `recognized · ${pct(face.confidence)}`, face.userId ?? "");
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

function addRecent(userId: string, confidence: number): void {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = `${userId} · ${pct(confidence)}`;
  const time = document.createElement("time");
  const at = new Date();
  time.dateTime = at.toISOString();
  time.textContent = at.toLocaleTimeString();
  li.append(name, time);
  els.recent.prepend(li);
  while (els.recent.children.length > 6) els.recent.lastElementChild?.remove();
}

function renderStats(): void {
  const now = performance.now();
  while (resultTimes.length && now - resultTimes[0] > 3000) resultTimes.shift();
  const fps = resultTimes.length >= 2 ? ((resultTimes.length - 1) * 1000) / (resultTimes[resultTimes.length - 1] - resultTimes[0]) : 0;
  els.stats.fps.textContent = fps ? fps.toFixed(1) : "–";
  // Medians over the last 20 frames: round trip (encode excluded) and the server's own time.
  const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);
  const rtt = median(latencies);
  const srv = median(serverMs);
  els.stats.latency.textContent = rtt === null ? "–" : `${Math.round(rtt)} ms`;
  els.stats.server.textContent = srv === null ? "–" : `${Math.round(srv)} ms`;
  els.stats.frames.textContent = String(framesSent);
  els.stats.dropped.textContent = String(dropped);
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
      const sent = inFlight.get(message.seq);
      const now = performance.now();
      for (const seq of [...inFlight.keys()]) if (seq <= message.seq) inFlight.delete(seq);
      if (sent) {
        latencies.push(now - sent.at);
        if (latencies.length > 20) latencies.shift();
        lastFrameSize = { w: sent.w, h: sent.h };
      }
      resultTimes.push(now);
      serverMs.push(message.ms);
      if (serverMs.length > 20) serverMs.shift();
      dropped = message.dropped;
      lastFaces = message.faces;
      drawOverlay(els.overlay, lastFaces, lastFrameSize.w, lastFrameSize.h, settings.mirror);
      renderState();
      renderStats();
      break;
    }
    case "identified":
      welcome = { userId: message.userId, confidence: message.confidence, until: performance.now() + 5000 };
      document.body.dataset.lastIdentified = message.userId;
      addRecent(message.userId, message.confidence);
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
      if (message.seq !== undefined) for (const seq of [...inFlight.keys()]) if (seq <= message.seq) inFlight.delete(seq);
      transientError = { text: `${message.code}: ${message.message}`, until: performance.now() + 4000 };
      renderState();
      break;
    case "pong":
      break;
  }
}

function resetFrames(): void {
  sentSeq = 0;
  inFlight.clear();
  lastFaces = [];
  drawOverlay(els.overlay, [], lastFrameSize.w, lastFrameSize.h, settings.mirror);
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

/** Sends a frame when the previous one is answered (or lost for 2 s) and the rate cap allows. */
async function tick(): Promise<void> {
  try {
    if (view !== "kiosk" || encoding || !connection?.isReady || !camera.ready) return;
    const now = performance.now();
    if (now - lastSentAt < 1000 / settings.fps) return;
    for (const [seq, f] of inFlight) if (now - f.at > 2000) inFlight.delete(seq);
    if (inFlight.size > 0 || connection.buffered > 1_000_000) return;
    encoding = true;
    lastSentAt = now;
    const blob = await camera.grab(els.capture, 640, 0.8);
    if (!blob || !connection?.isReady) return;
    const bytes = await blob.arrayBuffer();
    const w = els.capture.width;
    const h = els.capture.height;
    if (connection.send(bytes)) {
      sentSeq++;
      framesSent++;
      inFlight.set(sentSeq, { at: performance.now(), w, h });
    }
  } finally {
    encoding = false;
  }
}

function loop(): void {
  void tick();
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
    drawOverlay(els.overlay, [], lastFrameSize.w, lastFrameSize.h, settings.mirror);
  }
}

function openSettings(): void {
  els.setCompany.value = settings.company;
  els.setKey.value = settings.key;
  els.setKiosk.value = settings.kiosk;
  els.setFps.value = String(settings.fps);
  els.setConfirm.value = settings.confirm?.toString() ?? "";
  els.setWindow.value = settings.window?.toString() ?? "";
  els.setConfirm.placeholder = String(serverSettings?.confirmFrames ?? 3);
  els.setWindow.placeholder = String(serverSettings?.windowFrames ?? 5);
  els.setMirror.checked = settings.mirror;
  void fillCameras();
  if (!els.dialog.open) els.dialog.showModal();
  (settings.company ? els.setKey : els.setCompany).focus();
}

els.settingsForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const next = readForm(els.settingsForm, settings);
  const reconnect =
    next.company !== settings.company ||
    next.key !== settings.key ||
    next.kiosk !== settings.kiosk ||
    next.confirm !== settings.confirm ||
    next.window !== settings.window ||
    els.conn.dataset.status === "error";
  const recamera = next.camera !== settings.camera;
  settings = next;
  saveSettings(settings);
  els.viewport.classList.toggle("mirror", settings.mirror);
  els.dialog.close();
  if (recamera) void startCamera();
  if (reconnect) connect();
});
$("set-cancel").addEventListener("click", () => els.dialog.close());
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

// ---------------------------------------------------------------- enrollment

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

els.enrollForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void runEnrollment();
});

async function runEnrollment(): Promise<void> {
  const userId = els.enrollUser.value.trim();
  if (!userId) return;
  if (!settings.company) {
    openSettings();
    return;
  }
  if (els.enrollGo.disabled) return;
  els.enrollGo.disabled = true;
  // Right after the page loads the camera may still be starting: wait a little before giving up.
  for (let waited = 0; !camera.ready && waited < 5000; waited += 100) {
    els.enrollStatus.textContent = "Waiting for the camera…";
    await sleep(100);
  }
  if (!camera.ready) {
    els.enrollStatus.textContent = "The camera is not ready.";
    els.enrollGo.disabled = false;
    return;
  }
  const count = Math.min(10, Math.max(1, Number.parseInt(els.enrollCount.value, 10) || 3));
  const interval = Math.min(5000, Math.max(100, Number.parseInt(els.enrollInterval.value, 10) || 600));
  els.enrollShots.replaceChildren();
  const frames: Blob[] = [];
  const thumbs: HTMLImageElement[] = [];
  try {
    for (let i = 0; i < count; i++) {
      els.enrollStatus.textContent = `Capturing ${i + 1} of ${count}… look at the camera`;
      const blob = await camera.grab(els.capture, 1280, 0.92);
      if (blob) {
        frames.push(blob);
        const img = document.createElement("img");
        img.alt = `capture ${i + 1}`;
        img.src = URL.createObjectURL(blob);
        thumbs.push(img);
        els.enrollShots.append(img);
      }
      if (i < count - 1) await sleep(interval);
    }
    els.enrollStatus.textContent = "Checking the frames…";
    // One line per frame, updated in place as the frame is checked, then enrolled or skipped.
    const lines: ({ cls: "ok" | "bad" | "other" | "wait"; text: string } | null)[] = frames.map(() => null);
    const renderLines = (summary: string, ok: boolean | null) => {
      const head = document.createElement("div");
      head.className = `enroll-summary${ok === null ? "" : ok ? " ok" : " bad"}`;
      head.textContent = summary;
      const list = document.createElement("ol");
      list.className = "enroll-lines";
      for (const line of lines) {
        if (!line) continue;
        const li = document.createElement("li");
        li.className = line.cls;
        li.textContent = line.text;
        list.append(li);
      }
      els.enrollStatus.replaceChildren(head, list);
    };
    const summary = await enroll({
      company: settings.company,
      key: settings.key,
      userId,
      frames,
      createCompany: els.enrollCreateCompany.checked,
      addToExisting: els.enrollExisting.checked,
      sameThreshold: settings.same,
      onProgress: (i, outcome) => {
        const n = `frame ${i + 1}: `;
        const line =
          outcome.kind === "checking"
            ? { cls: "wait" as const, text: `${n}checking…` }
            : outcome.kind === "enrolled"
              ? {
                  cls: "ok" as const,
                  text: `${n}enrolled as ${outcome.faceId}${outcome.similarity === null ? "" : ` (${outcome.similarity.toFixed(2)})`}${outcome.note ? ` — ${outcome.note}` : ""}`,
                }
              : outcome.kind === "skipped"
                ? { cls: "other" as const, text: `${n}skipped: different person (${outcome.similarity.toFixed(2)})` }
                : { cls: "bad" as const, text: `${n}${outcome.code} ${outcome.message}` };
        lines[i] = line;
        const thumb = thumbs[i];
        if (thumb) {
          thumb.classList.remove("ok", "bad", "other");
          if (line.cls !== "wait") thumb.classList.add(line.cls);
          thumb.title = line.text;
        }
        renderLines(outcome.kind === "checking" ? "Checking the frames…" : "Enrolling…", null);
      },
    });
    const parts: string[] = [];
    if (summary.differentPerson > 0) parts.push(`${summary.differentPerson} skipped as a different person`);
    if (summary.failed > 0) parts.push(`${summary.failed} not usable`);
    const rest = parts.length ? ` ${parts.join(", ")}.` : "";
    const head =
      summary.enrolled > 0
        ? `${userId}: ${summary.enrolled} face${summary.enrolled === 1 ? "" : "s"} enrolled${summary.created ? " (new user)" : ""}.${rest}`
        : summary.refused
          ? `${userId}: nothing enrolled: ${summary.refused}.`
          : `${userId}: nothing enrolled.${rest}`;
    renderLines(head, summary.enrolled > 0);
  } catch (error) {
    els.enrollStatus.textContent = `Enrollment failed: ${(error as Error).message}`;
  } finally {
    els.enrollGo.disabled = false;
  }
}

// ---------------------------------------------------------------- start

els.viewport.classList.toggle("mirror", settings.mirror);
setView(view);
renderConnection({ kind: "idle" });
void startCamera();
connect();
if (!settings.company) openSettings();
loop();
