/**
 * Liveness benchmark: genuine presentations and photo attacks through real kiosk sessions
 * (WebSocket to the real server: LocalFaceService, ONNX engine, kiosk plugin), in real time.
 *
 *   bun run bench:liveness [-- --json bench/results/liveness.json --seconds 8]
 *
 * People: the 8 selfie clips (../shared/datasets/video/selfies) and the Hamilton clip. Each person is
 * enrolled from one frame at 0.5 s (the performer from his portrait). Presentations, each a new session:
 * - genuine: the clip from 1 s on (looped when short);
 * - still: one frame (at half the clip) looped: a photo held up;
 * - moving: the same frame zoomed and panned (ffmpeg zoompan): a print in a moving hand;
 * - replay (challenge mode, once per action): the clip itself, which cannot follow the prompt; it
 *   passes only when it happens to show the asked action in time (16 s: both attempts).
 * Frames are played at wall-clock time like a camera; the client sends the newest frame when the
 * previous result is back (at most 8 per second, as the page). A presentation ends at `identified` or
 * after --seconds. APCER: attacks identified; BPCER: genuine presentations not identified in time.
 * Clips d0, d3, d6, d10 were used to set the thresholds; d11, d12, d14, d18 and Hamilton were held out.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { upgradeWebSocket } from "hono/bun";
import { LocalEventSink } from "../lib/core/mod.ts";
import { LocalFaceService } from "../lib/service/mod.ts";
import { kioskPlugin, kioskWebSocketOptions, loadKioskConfig, type ServerMessage } from "../server/kiosk/mod.ts";
import { startServer } from "../server/http/serve.ts";

const ROOT = resolve(import.meta.dir, "..");
const DATASETS = resolve(ROOT, process.env.FACEGATE_DATASETS ?? "../shared/datasets");
const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    json: { type: "string", default: "bench/results/liveness.json" },
    seconds: { type: "string", default: "8" },
    /** "passive" or "challenge": run only those presentations (for tuning; the README figures run both). */
    only: { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
/** A replay gets time for every attempt: passive check, then 2 challenges of 5 s. */
const REPLAY_SECONDS = 16;
const ACTIONS = ["turn_left", "turn_right", "blink", "smile"] as const;
const TUNING = new Set(["selfie_d0", "selfie_d3", "selfie_d6", "selfie_d10"]);
const FPS_SOURCE = 15;
const loadBefore = Math.round(loadavg()[0] * 100) / 100;
const tmp = mkdtempSync(join(tmpdir(), "facegate-liveness-"));

function ffmpeg(args: string[]): void {
  const r = Bun.spawnSync(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ffmpeg ${args.join(" ")}: ${r.stderr.toString()}`);
}
function duration(path: string): number {
  const r = Bun.spawnSync(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path], { stdout: "pipe" });
  return Number(r.stdout.toString().trim());
}
/** JPEG frames of a video (or filter graph over an image) at FPS_SOURCE, max 640 px wide, quality ~0.8 like the page. */
function frames(dir: string, input: string[], filter: string): Uint8Array<ArrayBuffer>[] {
  mkdirSync(dir, { recursive: true });
  ffmpeg([...input, "-vf", `${filter}${filter ? "," : ""}fps=${FPS_SOURCE},scale='min(640,iw)':-2`, "-q:v", "5", join(dir, "%04d.jpg")]);
  return readdirSync(dir).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

interface Person { id: string; clip: string; enroll: Uint8Array; genuine: Uint8Array<ArrayBuffer>[]; still: Uint8Array<ArrayBuffer>[]; moving: Uint8Array<ArrayBuffer>[] }
const clips = [
  ...readdirSync(join(DATASETS, "video/selfies")).filter((f) => f.endsWith(".mp4")).sort().map((f) => join(DATASETS, "video/selfies", f)),
  join(DATASETS, "video/fr_short_hamilton_clip.mp4"),
];
const people: Person[] = [];
for (const clip of clips) {
  const id = basename(clip, ".mp4");
  const d = duration(clip);
  const dir = join(tmp, id);
  mkdirSync(dir, { recursive: true });
  const still = join(dir, "still.png");
  ffmpeg(["-ss", String(d / 2), "-i", clip, "-frames:v", "1", still]);
  const enrollPath = join(dir, "enroll.jpg");
  ffmpeg(["-ss", "0.5", "-i", clip, "-frames:v", "1", "-q:v", "2", enrollPath]);
  const enroll = id.startsWith("fr_short_hamilton")
    ? new Uint8Array(readFileSync(join(DATASETS, "labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png")))
    : new Uint8Array(readFileSync(enrollPath));
  const size = Bun.spawnSync(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height", "-of", "csv=p=0", clip], { stdout: "pipe" }).stdout.toString().trim().split(",").map(Number);
  people.push({
    id,
    clip,
    enroll,
    genuine: frames(join(dir, "g"), ["-ss", "1", "-i", clip], ""),
    still: frames(join(dir, "s"), ["-loop", "1", "-framerate", "25", "-t", String(SECONDS + 1), "-i", still], ""),
    moving: frames(join(dir, "m"), ["-loop", "1", "-framerate", "25", "-t", String(SECONDS + 1), "-i", still],
      `zoompan=z='1.1+0.1*sin(on/30)':x='iw/2-(iw/zoom/2)+30*sin(on/23)':y='ih/2-(ih/zoom/2)+20*sin(on/37)':d=1:s=${size[0]}x${size[1]}:fps=25`),
  });
}

const service = await LocalFaceService.create({
  config: { store: "memory" },
  env: { FACE_ENGINE_WORKERS: String(Math.min(2, availableParallelism())), ...process.env, DATA_SOURCE: "NONE" },
  log: () => {},
});
await service.createCompany({ companyId: "bench" });
for (const p of people) await service.createUser({ companyId: "bench", userId: p.id, faceId: "enroll", image: p.enroll });

const config = loadKioskConfig({}, { maxSessions: 64, idleTimeoutMs: 600_000, cooldownMs: 0 });
const kiosk = kioskPlugin({ upgradeWebSocket, events: new LocalEventSink(), config });
const server = startServer({
  api: service,
  config: { port: 0, host: "127.0.0.1", authMode: "open", apiKeys: {}, logLevel: "silent", rateLimitPerMinute: 0 },
  plugins: [kiosk],
  websocketOptions: kioskWebSocketOptions(config),
});

interface Outcome { person: string; kind: string; mode: string; action?: string; identified: string | null; ms: number | null; frames: number; finalState: string }

/** One presentation in real time: frames[i] is on camera at i / FPS_SOURCE s (looped). */
async function present(person: string, kind: string, mode: "passive" | "challenge", list: Uint8Array<ArrayBuffer>[], action?: string): Promise<Outcome> {
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/v1/kiosk/ws?company=bench`);
  ws.binaryType = "arraybuffer";
  const queue: ServerMessage[] = [];
  let wake: (() => void) | null = null;
  ws.onmessage = (e) => {
    queue.push(JSON.parse(String(e.data)) as ServerMessage);
    wake?.();
  };
  const next = async (): Promise<ServerMessage> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift()!;
  };
  await new Promise((r) => (ws.onopen = r));
  while ((await next()).type !== "ready");
  if (mode === "challenge") {
    ws.send(JSON.stringify({ type: "settings", liveness: "challenge", ...(action ? { challengeActions: [action] } : {}) }));
    while ((await next()).type !== "ready");
  }
  const t0 = performance.now();
  let sent = 0;
  let identified: string | null = null;
  let ms: number | null = null;
  let finalState = "none";
  const limitMs = (mode === "challenge" ? REPLAY_SECONDS : SECONDS) * 1000;
  while (performance.now() - t0 < limitMs && identified === null) {
    const elapsed = performance.now() - t0;
    ws.send(list[Math.floor((elapsed / 1000) * FPS_SOURCE) % list.length]);
    sent++;
    const sentAt = performance.now();
    const seen = (m: ServerMessage): void => {
      if (m.type === "identified" && identified === null) {
        identified = m.userId;
        ms = Math.round(performance.now() - t0);
      }
    };
    for (;;) {
      const m = await next();
      seen(m);
      if (m.type === "result") {
        finalState = m.faces[0]?.state ?? "none";
        break;
      }
      if (m.type === "error") break;
    }
    // `identified` follows its frame's `result`: give it a moment to arrive.
    await Bun.sleep(5);
    for (const m of queue.splice(0)) seen(m);
    const wait = 125 - (performance.now() - sentAt); // at most 8 frames per second, like the page
    if (wait > 0) await Bun.sleep(wait);
  }
  ws.close();
  return { person, kind, mode, ...(action ? { action } : {}), identified, ms, frames: sent, finalState };
}

const outcomes: Outcome[] = [];
for (const p of people) {
  for (const [kind, list] of args.only === "challenge" ? [] : ([["genuine", p.genuine], ["still", p.still], ["moving", p.moving]] as const)) {
    const o = await present(p.id, kind, "passive", list);
    outcomes.push(o);
    console.error(`${p.id.padEnd(26)} ${kind.padEnd(8)} passive   ${o.identified ? `identified ${o.identified} in ${o.ms} ms` : `not identified (${o.finalState})`} · ${o.frames} frames`);
  }
  // Challenge mode, one action at a time: a replay passes only when the clip happens to show it.
  for (const action of args.only === "passive" ? [] : ACTIONS) {
    const replay = await present(p.id, "replay", "challenge", p.genuine, action);
    outcomes.push(replay);
    console.error(`${p.id.padEnd(26)} replay   ${action.padEnd(10)} ${replay.identified ? `identified in ${replay.ms} ms` : `not identified (${replay.finalState})`} · ${replay.frames} frames`);
  }
}
kiosk.closeAll();
await server.stop(0);
await service.close();
rmSync(tmp, { recursive: true, force: true });

const pct = (a: number, b: number) => (b === 0 ? null : Math.round((1000 * a) / b) / 10);
const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)] : null);
function summary(set: Outcome[]) {
  const genuine = set.filter((o) => o.kind === "genuine");
  const ok = genuine.filter((o) => o.identified === o.person);
  const row = (kind: string) => {
    const a = set.filter((o) => o.kind === kind);
    return { presentations: a.length, accepted: a.filter((o) => o.identified !== null).length, apcerPct: pct(a.filter((o) => o.identified !== null).length, a.length) };
  };
  const replay = (action: string) => {
    const a = set.filter((o) => o.kind === "replay" && o.action === action);
    return { presentations: a.length, accepted: a.filter((o) => o.identified !== null).length, apcerPct: pct(a.filter((o) => o.identified !== null).length, a.length) };
  };
  return {
    replayByAction: Object.fromEntries(ACTIONS.map((a) => [a, replay(a)])),
    genuine: { presentations: genuine.length, identified: ok.length, bpcerPct: pct(genuine.length - ok.length, genuine.length), medianMs: median(ok.map((o) => o.ms!)), maxMs: ok.length ? Math.max(...ok.map((o) => o.ms!)) : null },
    still: row("still"),
    moving: row("moving"),
  };
}
const all = summary(outcomes);
const heldOut = summary(outcomes.filter((o) => !TUNING.has(o.person)));
const table = [
  "| set | genuine identified (BPCER) | median / max time to identify | still photo APCER | moving photo APCER |",
  "|---|---|---|---|---|",
  ...([["all 9 people", all], ["held out (5)", heldOut]] as const).map(([name, s]) =>
    `| ${name} | ${s.genuine.identified}/${s.genuine.presentations} (${s.genuine.bpcerPct} %) | ${s.genuine.medianMs} / ${s.genuine.maxMs} ms | ${s.still.accepted}/${s.still.presentations} (${s.still.apcerPct} %) | ${s.moving.accepted}/${s.moving.presentations} (${s.moving.apcerPct} %) |`),
  "",
  "| challenge action | video replay APCER, all 9 | held out (5) |",
  "|---|---|---|",
  ...ACTIONS.map((a) => `| ${a} | ${all.replayByAction[a].accepted}/${all.replayByAction[a].presentations} (${all.replayByAction[a].apcerPct} %) | ${heldOut.replayByAction[a].accepted}/${heldOut.replayByAction[a].presentations} (${heldOut.replayByAction[a].apcerPct} %) |`),
].join("\n");
console.log(table);
const out = resolve(ROOT, args.json!);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), loadBefore, cores: availableParallelism(), seconds: SECONDS, tuning: [...TUNING], all, heldOut, outcomes }, null, 2)}\n`);
console.error(`wrote ${out}`);
process.exit(0);
