/**
 * Kiosks and HTTP through one desk (issue 20): HTTP recognize at half its saturation rate, alone and
 * while 40 kiosk sessions stream 640x480 frames, on a real server (`bun server/main.ts`, embedded,
 * in-memory store, loopback). Before the desk the kiosk skipped the admission limiter: HTTP p99 went
 * from 107 ms to 5.3 s (49x) with 155 errors. Now kiosk frames share the one limiter on KIOSK_SHARE:
 * frames beyond it are shed (answered busy, counted), never queued.
 *
 *   bun run bench:kiosk-load [-- --seconds 10 --rounds 2 --kiosks 40 --fps 5 --json bench/results/kiosk-load.json]
 *
 * Two servers, KIOSK_SHARE 0.5 (the default) and 1.0, started once; the phases alternate within
 * each round (unloaded, loaded at 0.5, loaded at 1.0) so that other load on the machine hits all
 * variants alike; the ratios loaded p99 / unloaded p99 are taken within a round. The HTTP rate is
 * open-loop (a request every 1/rate s, whatever the answers), half the throughput measured with 4
 * closed-loop clients first. Kiosks send like the page: the next frame once the last is answered,
 * at most --fps a second.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { freePort } from "../lib/nats/mod.ts";
import { quantile } from "./lfw-metrics.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith("--") ? args[i + 1] : fallback;
};
const seconds = Math.min(60, Math.max(2, Number(opt("seconds", "10"))));
const rounds = Math.min(5, Math.max(1, Number(opt("rounds", "2"))));
const kioskCount = Math.min(100, Math.max(1, Number(opt("kiosks", "40"))));
const fps = Math.min(30, Math.max(1, Number(opt("fps", "5"))));
const jsonOut = args.includes("--json") ? opt("json", "bench/results/kiosk-load.json") : null;
const DATASETS = resolve(ROOT, process.env.FACEGATE_DATASETS ?? "../shared/datasets");
const LFW = join(DATASETS, "lfw-dev/images");
const FRAMES = join(DATASETS, "video/frames_hamilton");
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const load = () => loadavg().map((x) => round(x, 2));

interface Person {
  name: string;
  enroll: Uint8Array<ArrayBuffer>;
  query: Uint8Array<ArrayBuffer>;
}

function people(n: number): Person[] {
  if (!existsSync(LFW)) throw new Error(`LFW not found at ${LFW} (FACEGATE_DATASETS)`);
  const out: Person[] = [];
  for (const name of readdirSync(LFW).sort()) {
    const files = readdirSync(join(LFW, name)).filter((f) => f.endsWith(".jpg")).sort();
    if (files.length < 2) continue;
    out.push({ name, enroll: new Uint8Array(readFileSync(join(LFW, name, files[0]))), query: new Uint8Array(readFileSync(join(LFW, name, files[1]))) });
    if (out.length >= n) break;
  }
  return out;
}

/** The Hamilton clip's performer frames, as 640x480 JPEGs (what the kiosk page sends). */
async function kioskFrames(): Promise<Uint8Array<ArrayBuffer>[]> {
  const names = readdirSync(FRAMES).filter((f) => f.endsWith(".jpg")).sort().slice(18, 39);
  return Promise.all(
    names.map(async (f) => new Uint8Array(await sharp(readFileSync(join(FRAMES, f))).resize(640, 480, { fit: "cover" }).jpeg({ quality: 80 }).toBuffer())),
  );
}

interface Server {
  url: string;
  share: number;
  proc: ReturnType<typeof Bun.spawn>;
}

async function startServer(share: number): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      STORE: "memory",
      AUTH_MODE: "open",
      API_KEYS: "",
      API_KEYS_FILE: "",
      NATS_URL: "",
      DATA_SOURCE: "NONE",
      RATE_LIMIT_PER_MINUTE: "0",
      LOG_LEVEL: "warn",
      KIOSK_SHARE: String(share),
      KIOSK_MAX_SESSIONS: String(kioskCount + 10),
      KIOSK_MAX_SESSIONS_PER_ADDRESS: String(kioskCount + 10),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const deadline = Date.now() + 90_000;
  while (!(await fetch(`${url}/v1/health`).then((r) => r.status === 200, () => false))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error("the server did not become ready");
    await Bun.sleep(200);
  }
  return { url, share, proc };
}

async function enroll(server: Server, gallery: Person[]): Promise<void> {
  await fetch(`${server.url}/v1/companies`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"company_id":"bench"}' });
  for (const p of gallery) {
    const r = await fetch(`${server.url}/v1/companies/bench/users?user_id=${encodeURIComponent(p.name)}&face_id=1`, {
      method: "POST",
      headers: { "Content-Type": "image/jpeg" },
      body: p.enroll,
    });
    await r.arrayBuffer();
  }
}

async function recognize(server: Server, p: Person): Promise<{ ms: number; status: number; ok: boolean }> {
  const t = performance.now();
  const res = await fetch(`${server.url}/v1/companies/bench/recognize`, { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: p.query });
  const out = (await res.json()) as { user_id?: string | null };
  return { ms: performance.now() - t, status: res.status, ok: res.status === 200 && out.user_id === p.name };
}

/** Closed loop, `clients` at once: the throughput the server sustains (req/s). */
async function saturation(server: Server, gallery: Person[], ms: number, clients = 4): Promise<number> {
  let done = 0;
  let next = 0;
  const until = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) if ((await recognize(server, gallery[next++ % gallery.length])).status === 200) done++;
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/** Open loop at `rate` req/s for `ms`: every answer's latency. */
async function openLoop(server: Server, gallery: Person[], rate: number, ms: number) {
  const latencies: number[] = [];
  let errors = 0;
  let wrong = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; performance.now() - t0 < ms; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    pending.push(
      recognize(server, gallery[i % gallery.length]).then(
        (r) => {
          if (r.status !== 200) errors++;
          else {
            latencies.push(r.ms);
            if (!r.ok) wrong++;
          }
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { requests: pending.length, answered: latencies.length, errors, wrong, p50Ms: round(quantile(latencies, 0.5)), p99Ms: round(quantile(latencies, 0.99)), maxMs: round(latencies.at(-1) ?? 0) };
}

interface KioskTally {
  sent: number;
  results: number;
  shed: number;
  errors: number;
}

/** `kioskCount` sessions streaming frames until `stop` resolves. */
async function kiosks(server: Server, frames: Uint8Array<ArrayBuffer>[], stop: Promise<void>): Promise<KioskTally> {
  const tally: KioskTally = { sent: 0, results: 0, shed: 0, errors: 0 };
  let stopped = false;
  void stop.then(() => (stopped = true));
  const wsUrl = `${server.url.replace(/^http/, "ws")}/v1/kiosk/ws?company=bench`;
  await Promise.all(
    Array.from({ length: kioskCount }, (_, k) =>
      new Promise<void>((resolveSession) => {
        const ws = new WebSocket(`${wsUrl}&kiosk=door-${k}`);
        ws.binaryType = "arraybuffer";
        let n = k;
        let lastSent = 0;
        const send = () => {
          if (stopped) return ws.close();
          const gap = 1000 / fps - (performance.now() - lastSent);
          setTimeout(() => {
            if (stopped) return ws.close();
            lastSent = performance.now();
            tally.sent++;
            ws.send(frames[n++ % frames.length]);
          }, Math.max(0, gap));
        };
        ws.onmessage = (e) => {
          const m = JSON.parse(String(e.data)) as { type: string; code?: string; message?: string; seq?: number };
          if (m.type === "ready" && lastSent === 0) send();
          else if (m.type === "result") {
            tally.results++;
            send();
          } else if (m.type === "error" && m.seq !== undefined) {
            if (m.code === "UNAVAILABLE" && /shed/.test(m.message ?? "")) tally.shed++;
            else tally.errors++;
            send();
          }
        };
        ws.onclose = () => resolveSession();
        ws.onerror = () => resolveSession();
      }),
    ),
  );
  return tally;
}

/**
 * The kiosks run in their own process (this file with --drive URL): their 40 sockets must not delay
 * the HTTP client's event loop, or its latencies would measure the bench instead of the server.
 * Streams until SIGTERM, then prints its tally as one JSON line.
 */
function driveKiosks(server: Server): { stop(): Promise<KioskTally> } {
  const proc = Bun.spawn(["bun", join(ROOT, "bench/kiosk-load.ts"), "--drive", server.url, "--kiosks", String(kioskCount), "--fps", String(fps)], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "inherit",
  });
  return {
    async stop() {
      proc.kill("SIGTERM");
      const out = await new Response(proc.stdout).text();
      await proc.exited;
      return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as KioskTally;
    },
  };
}

async function metrics(server: Server): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await (await fetch(`${server.url}/metrics`)).text()).split("\n")) {
    const m = /^(facegate_\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function phase(server: Server, gallery: Person[], rate: number, frames: Uint8Array<ArrayBuffer>[] | null) {
  const before = await metrics(server);
  const loadBefore = load();
  const driver = frames ? driveKiosks(server) : null;
  if (driver) await Bun.sleep(2000); // the sessions open and start streaming first
  const http = await openLoop(server, gallery, rate, seconds * 1000);
  const kiosk = driver ? await driver.stop() : null;
  const after = await metrics(server);
  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  return {
    kioskShare: server.share,
    kiosks: frames ? kioskCount : 0,
    ...http,
    kioskFrames: kiosk,
    shedCounted: delta('facegate_admission_rejected_total{reason="kiosk_shed"}'),
    kioskShedMetric: delta("facegate_kiosk_frames_shed_total"),
    kioskCallsInOperationFamily: delta('facegate_operation_duration_seconds_count{operation="recognize_faces",outcome="ok",way="kiosk"}'),
    httpCallsInOperationFamily: delta('facegate_operation_duration_seconds_count{operation="recognize_face",outcome="ok",way="http"}'),
    maxQueuedAtEnd: after.get("facegate_admission_queued") ?? 0,
    loadavg: { before: loadBefore, after: load() },
  };
}

async function main(): Promise<void> {
  const gallery = people(50);
  const frames = await kioskFrames(); // checked here, encoded again by each driver
  const servers = [await startServer(0.5), await startServer(1)];
  try {
    for (const s of servers) await enroll(s, gallery);
    await saturation(servers[0], gallery, 2000); // warm-up
    const saturated = await saturation(servers[0], gallery, seconds * 1000);
    const rate = round(saturated / 2, 1);
    console.log(`saturation ${round(saturated, 1)} req/s (4 closed-loop clients); HTTP at half: ${rate} req/s; ${kioskCount} kiosks at <= ${fps} fps, 640x480; load ${load().join(" ")}`);
    const rows = [];
    for (let r = 1; r <= rounds; r++) {
      const unloaded = await phase(servers[0], gallery, rate, null);
      const loaded = await phase(servers[0], gallery, rate, frames);
      const share1 = await phase(servers[1], gallery, rate, frames);
      for (const [variant, p] of [["HTTP alone", unloaded], [`+ ${kioskCount} kiosks, KIOSK_SHARE 0.5`, loaded], [`+ ${kioskCount} kiosks, KIOSK_SHARE 1.0`, share1]] as const) {
        const row = { round: r, variant, ...p, p99RatioToUnloaded: round(p.p99Ms / Math.max(0.1, unloaded.p99Ms), 2) };
        rows.push(row);
        console.log(`  round ${r}, ${variant}: p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms (x${row.p99RatioToUnloaded}), errors ${row.errors}; kiosk ${JSON.stringify(row.kioskFrames)}`);
      }
    }
    console.log("\nround | variant | HTTP req | errors | p50 ms | p99 ms | p99 / alone | kiosk frames sent | answered | shed (counted) | load avg (1 min)");
    console.log("----: | :------ | -------: | -----: | -----: | -----: | ----------: | ----------------: | -------: | -------------: | ---------------:");
    for (const r of rows) {
      const k = r.kioskFrames;
      console.log(
        `${r.round} | ${r.variant} | ${r.requests} | ${r.errors} | ${r.p50Ms} | ${r.p99Ms} | ${r.p99RatioToUnloaded} | ${k?.sent ?? "-"} | ${k?.results ?? "-"} | ${k ? `${k.shed} (${r.shedCounted})` : "-"} | ${r.loadavg.before[0]} → ${r.loadavg.after[0]}`,
      );
    }
    if (jsonOut) {
      writeFileSync(
        jsonOut,
        `${JSON.stringify(
          {
            bench: "kiosk-load",
            date: new Date().toISOString(),
            command: `bun bench/kiosk-load.ts ${args.join(" ")}`.trim(),
            machine: { cpus: cpus().length, cpu: cpus()[0]?.model, bun: Bun.version, loadavgAtEnd: load() },
            http: { route: "POST /v1/companies/:company/recognize", images: "LFW 250x250, 50 people enrolled", saturationRps: round(saturated, 1), rateRps: rate, secondsPerPhase: seconds },
            kiosks: { sessions: kioskCount, maxFps: fps, frame: "Hamilton clip frames resized to 640x480 JPEG q80" },
            rows,
          },
          null,
          2,
        )}\n`,
      );
      console.log(`\nwrote ${jsonOut}`);
    }
  } finally {
    for (const s of servers) s.proc.kill("SIGTERM");
    await Promise.all(servers.map((s) => Promise.race([s.proc.exited, Bun.sleep(15_000)])));
  }
}

const drive = opt("drive", "");
if (drive) {
  let release = () => {};
  const stop = new Promise<void>((r) => (release = r));
  process.on("SIGTERM", () => release());
  const tally = await kiosks({ url: drive, share: 0, proc: undefined as never }, await kioskFrames(), stop);
  console.log(JSON.stringify(tally));
} else {
  await main();
}
