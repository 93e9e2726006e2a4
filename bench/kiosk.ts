/**
 * Kiosk benchmark: frame-to-result latency and sustained throughput of the kiosk WebSocket on the
 * real server (LocalFaceService, ONNX engine, in-memory store), in this process, over real sockets.
 *
 *   bun run bench:kiosk [-- --frames 200 --seconds 10 --json bench/results/kiosk.json]
 *
 * Frames: the Hamilton clip frames 20-39 (one face, the performer, enrolled from his portrait),
 * cropped/scaled to 640x480 and re-encoded as JPEG quality 80, like the kiosk page sends them.
 * - latency: one session, one frame at a time (send → result), p50/p99 of the round trip and of
 *   the server's own `ms`;
 * - throughput: sessions that always keep two frames outstanding (one in flight, one waiting),
 *   so the server is never idle; frames/s over the wall clock, and frames per CPU-second of this
 *   process (= sustained frames per second per core; the client side is a few JSON parses).
 */
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { upgradeWebSocket } from "hono/bun";
import sharp from "sharp";
import { quantile } from "./lfw-metrics.ts";
import { LocalEventSink } from "../lib/core/mod.ts";
import { LocalFaceService } from "../lib/service/mod.ts";
import { kioskPlugin, kioskWebSocketOptions, loadKioskConfig, type ServerMessage } from "../server/kiosk/mod.ts";
import { startServer } from "../server/http/serve.ts";

const ROOT = resolve(import.meta.dir, "..");
const DATASETS = resolve(ROOT, process.env.FACEGATE_DATASETS ?? "../shared/datasets");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith("--") ? args[i + 1] : fallback;
};
const FRAMES = Number(opt("frames", "200"));
const SECONDS = Number(opt("seconds", "10"));
const JSON_OUT = args.includes("--json") ? opt("json", "bench/results/kiosk.json") : "bench/results/kiosk.json";

// ---------------------------------------------------------------- setup

// The 1-minute load before we start: on a shared machine wall-clock numbers depend on it.
const loadBefore = Math.round(loadavg()[0] * 100) / 100;

// As `bun run start` does: the engine in one worker thread per core (FACE_ENGINE_WORKERS overrides).
const service = await LocalFaceService.create({
  config: { store: "memory" },
  env: { FACE_ENGINE_WORKERS: String(availableParallelism()), ...process.env, DATA_SOURCE: "NONE" },
  log: () => {},
});
await service.createCompany({ companyId: "bench" });
await service.createUser({
  companyId: "bench",
  userId: "performer",
  faceId: "portrait",
  image: new Uint8Array(readFileSync(join(DATASETS, "labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png"))),
});
const frames: Uint8Array<ArrayBuffer>[] = [];
for (let n = 20; n <= 39; n++) {
  const src = readFileSync(join(DATASETS, "video/frames_hamilton", `frame_${String(n).padStart(4, "0")}.jpg`));
  const jpeg = await sharp(src).resize(640, 480, { fit: "cover" }).jpeg({ quality: 80 }).toBuffer();
  frames.push(new Uint8Array(jpeg));
}
const meanBytes = Math.round(frames.reduce((s, f) => s + f.byteLength, 0) / frames.length);

const config = loadKioskConfig({}, { maxSessions: 64, idleTimeoutMs: 600_000 });
const kiosk = kioskPlugin({ upgradeWebSocket, events: new LocalEventSink(), config });
const server = startServer({
  api: service,
  config: { port: 0, host: "127.0.0.1", authMode: "open", apiKeys: {}, logLevel: "silent", rateLimitPerMinute: 0 },
  plugins: [kiosk],
  websocketOptions: kioskWebSocketOptions(config),
});
const wsUrl = `${server.url.replace(/^http/, "ws")}/v1/kiosk/ws?company=bench`;

// ---------------------------------------------------------------- client

interface Client {
  ws: WebSocket;
  onResult: ((m: Extract<ServerMessage, { type: "result" }>) => void) | null;
}

async function open(): Promise<Client> {
  const ws = new WebSocket(wsUrl);
  ws.binaryType = "arraybuffer";
  const client: Client = { ws, onResult: null };
  await new Promise<void>((resolve, reject) => {
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as ServerMessage;
      if (m.type === "ready") resolve();
      else if (m.type === "result") client.onResult?.(m);
      else if (m.type === "error") reject(new Error(`${m.code}: ${m.message}`));
    };
    ws.onerror = () => reject(new Error("websocket error"));
  });
  return client;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function latency(count: number): Promise<{ rtt: number[]; server: number[]; faces: number }> {
  const c = await open();
  const rtt: number[] = [];
  const serverMs: number[] = [];
  let faces = 0;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const result = await new Promise<Extract<ServerMessage, { type: "result" }>>((resolve) => {
      c.onResult = resolve;
      c.ws.send(frames[i % frames.length]);
    });
    rtt.push(performance.now() - started);
    serverMs.push(result.ms);
    faces += result.faces.length;
  }
  c.ws.close();
  return { rtt, server: serverMs, faces };
}

async function throughput(sessions: number, seconds: number): Promise<{ fps: number; fpsPerCore: number; cpu: number; dropped: number; frames: number }> {
  const clients = await Promise.all(Array.from({ length: sessions }, open));
  let done = 0;
  let dropped = 0;
  let stop = false;
  let i = 0;
  const finished: Promise<void>[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const c of clients) {
    finished.push(
      new Promise<void>((resolve) => {
        let outstanding = 0;
        c.onResult = (m) => {
          done++;
          dropped = Math.max(dropped, m.dropped);
          outstanding--;
          if (stop) {
            if (outstanding <= 0) resolve();
            return;
          }
          outstanding++;
          c.ws.send(frames[i++ % frames.length]);
        };
        // Two outstanding: the server always has the next frame waiting.
        for (let k = 0; k < 2; k++) {
          outstanding++;
          c.ws.send(frames[i++ % frames.length]);
        }
      }),
    );
  }
  await Bun.sleep(seconds * 1000);
  stop = true;
  const wall = (performance.now() - t0) / 1000;
  const counted = done;
  const cpu = process.cpuUsage(cpu0);
  await Promise.race([Promise.all(finished), Bun.sleep(5000)]);
  for (const c of clients) c.ws.close();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { fps: counted / wall, fpsPerCore: counted / cpuSeconds, cpu: cpuSeconds / wall, dropped, frames: counted };
}

// ---------------------------------------------------------------- run

await latency(15); // warm-up: first runs allocate and JIT
const lat = await latency(FRAMES);
const one = await throughput(1, SECONDS);
const two = await throughput(2, SECONDS);

kiosk.closeAll();
await server.stop(0);
const engine = service.engine.info();
await service.close();

const result = {
  bench: "kiosk",
  date: new Date().toISOString(),
  machine: { cpus: navigator.hardwareConcurrency, bun: Bun.version, platform: process.platform, loadAverage1mBefore: loadBefore },
  engine: { engine: engine.engine, backend: engine.backend, model: engine.modelId, ortThreads: process.env.ORT_THREADS ?? "default" },
  frames: { width: 640, height: 480, meanJpegBytes: meanBytes, source: "video/frames_hamilton 20-39, cover-cropped to 640x480, JPEG q80", facesPerFrame: round(lat.faces / FRAMES, 2) },
  latency: {
    frames: FRAMES,
    rttP50Ms: round(quantile(sorted(lat.rtt), 0.5)),
    rttP99Ms: round(quantile(sorted(lat.rtt), 0.99)),
    serverP50Ms: round(quantile(sorted(lat.server), 0.5)),
    serverP99Ms: round(quantile(sorted(lat.server), 0.99)),
  },
  throughput: [
    { sessions: 1, seconds: SECONDS, frames: one.frames, fps: round(one.fps), fpsPerCore: round(one.fpsPerCore), coresBusy: round(one.cpu, 2) },
    { sessions: 2, seconds: SECONDS, frames: two.frames, fps: round(two.fps), fpsPerCore: round(two.fpsPerCore), coresBusy: round(two.cpu, 2) },
  ],
};

console.log(`\nkiosk WebSocket, 640x480 JPEG frames with one face (${meanBytes} bytes mean), ${engine.engine}/${engine.backend}, ${navigator.hardwareConcurrency} cpus, load ${loadBefore} before the run\n`);
console.log("| measure | value |");
console.log("|---|---|");
console.log(`| frame-to-result p50 (round trip, 1 session, 1 frame at a time) | ${result.latency.rttP50Ms} ms |`);
console.log(`| frame-to-result p99 | ${result.latency.rttP99Ms} ms |`);
console.log(`| server time p50 / p99 | ${result.latency.serverP50Ms} / ${result.latency.serverP99Ms} ms |`);
for (const t of result.throughput) {
  console.log(`| sustained fps, ${t.sessions} session${t.sessions > 1 ? "s" : ""} (wall) | ${t.fps} fps (${t.coresBusy} cores busy) |`);
  console.log(`| sustained fps per core, ${t.sessions} session${t.sessions > 1 ? "s" : ""} | ${t.fpsPerCore} fps/core |`);
}
mkdirSync(dirname(resolve(ROOT, JSON_OUT)), { recursive: true });
writeFileSync(resolve(ROOT, JSON_OUT), `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwrote ${JSON_OUT}`);
process.exit(0);
