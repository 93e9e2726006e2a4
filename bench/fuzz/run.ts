/**
 * The fuzz run: real processes (the server `bun server/main.ts` in embedded mode with keys and
 * SQLite, a `nats-server`, a NATS worker `bun server/compose/worker.ts`), a warm-up round, then the
 * seeded inputs of every category; afterwards both processes must be alive, health answer, the
 * gallery a fuzz key may not touch be unchanged, and the resident memory of both processes be
 * back near its post-warm-up baseline.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import sharp from "sharp";
import { startNatsServer, type NatsServer } from "../../lib/nats/mod.ts";
import { faceApiSample, ROOT } from "../../test/helpers/datasets.ts";
import { startServerProcess, type ServerProcess } from "../../test/helpers/server-process.ts";
import { toolPath } from "../../test/helpers/tools.ts";
import {
  httpBodyInput,
  httpHeaderInput,
  imageInput,
  isFailure,
  multipartInput,
  operationsFrom,
  rawHttpInput,
  sendHttp,
  sendRaw,
  type HttpContext,
  type Outcome,
} from "./http.ts";
import type { BaseImages } from "./mutate.ts";
import { natsInput, sendNats } from "./nats.ts";
import { Rng } from "./rng.ts";
import { badUpgradeQuery, DOCUMENTED_CLOSES, FuzzSession, wsInput } from "./ws.ts";

export const CATEGORIES = ["http-body", "http-headers", "multipart", "image", "raw-http", "ws", "ws-upgrade", "nats"] as const;
export type Category = (typeof CATEGORIES)[number];
/** Share of the inputs per category. */
const SHARE: Record<Category, number> = { "http-body": 0.3, "http-headers": 0.1, multipart: 0.12, image: 0.15, "raw-http": 0.06, ws: 0.15, "ws-upgrade": 0.02, nats: 0.1 };

export interface FuzzOptions {
  seed: number;
  /** Inputs in the main round (a warm-up round of the same size runs first). */
  count: number;
  /** An input not answered within this is a hang. */
  hangMs?: number;
  /** Inputs in the warm-up round (default: `count`). */
  warmup?: number;
  /** How long resident memory is watched to settle, before (baseline) and after (default 6 s). */
  settleMs?: number;
  log?: (line: string) => void;
}

export interface CategoryResult {
  inputs: number;
  ok: number;
  /** Documented error answers by code (and transport refusals by kind). */
  errors: Record<string, number>;
  failures: Record<string, number>;
  /** Up to 5 failing inputs per category, to reproduce. */
  examples: string[];
}

export interface FuzzResult {
  seed: number;
  inputs: number;
  /** Inputs of the warm-up round (checked for failures as well). */
  warmupInputs: number;
  seconds: number;
  categories: Record<Category, CategoryResult>;
  crashes: number;
  hangs: number;
  undocumented: number;
  internal: number;
  memory: Record<"server" | "worker", { baselineMb: number; afterMb: number; peakMb: number; backToBaseline: boolean }>;
  gallery: { untouched: boolean; detail: string };
  kioskFrames: { received: number; processed: number; dropped: number; rejected: number; errors: number; shed: number; accounted: boolean };
  health: number;
  passed: boolean;
}

const KEYS = { admin: "fuzz-admin-key-0001", company: "fuzz-company-key-0001", kiosk: "fuzz-kiosk-key-0001" };
const RAW_INCOMPLETE = new Set(["short-body", "huge-chunk", "http09", "random", "no-version", "h2-preface", "bad-method", "cl-te", "two-cl"]);

const rssMb = (pid: number | undefined): number => {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};

/**
 * The lowest RSS seen while it settles, after a full garbage collection (SIGUSR2, server/main.ts
 * and server/compose/worker.ts): freed memory is returned lazily, so it is watched for `ms`.
 */
async function settledRss(pid: number | undefined, ms = 6000): Promise<number> {
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGUSR2");
    } catch {
      // gone: measured as 0
    }
  }
  let low = Number.POSITIVE_INFINITY;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    low = Math.min(low, rssMb(pid));
    await Bun.sleep(250);
  }
  return Math.round(low * 10) / 10;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

async function baseImages(): Promise<BaseImages> {
  const src = sharp(faceApiSample(1)).resize({ width: 360 });
  return {
    jpeg: new Uint8Array(await src.clone().jpeg({ quality: 80 }).toBuffer()),
    png: new Uint8Array(await src.clone().png().toBuffer()),
    webp: new Uint8Array(await src.clone().webp().toBuffer()),
  };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? (() => {});
  const hangMs = options.hangMs ?? 15_000;
  const settleMs = options.settleMs ?? 6000;
  const dataDir = mkdtempSync(join(tmpdir(), "facegate-fuzz-"));
  let nats: NatsServer | undefined;
  let server: ServerProcess | undefined;
  let worker: ReturnType<typeof Bun.spawn> | undefined;
  const peaks = { server: 0, worker: 0 };
  const sampler = setInterval(() => {
    peaks.server = Math.max(peaks.server, rssMb(server?.proc.pid));
    peaks.worker = Math.max(peaks.worker, rssMb(worker?.pid));
  }, 200);
  try {
    const base = await baseImages();
    nats = await startNatsServer({ bin: toolPath("nats-server") });
    worker = Bun.spawn(["bun", join(ROOT, "server/compose/worker.ts")], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NATS_URL: nats.url, FACE_ENGINE_WORKERS: "1", WORKER_CONCURRENCY: "2" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const workerReady = waitForLine(worker.stdout as ReadableStream<Uint8Array>, /serving/, 60_000);
    server = await startServerProcess(
      {
        DATA_DIR: dataDir,
        API_KEYS: JSON.stringify({ [KEYS.admin]: ["*"], [KEYS.company]: ["fuzz"], [KEYS.kiosk]: { companies: ["fuzz"], scopes: ["recognize"] } }),
        RATE_LIMIT_PER_MINUTE: "0", // the fuzzer is one client: it would only ever see 429
        AUTH_FAIL_LIMIT: "0", // it sends wrong keys on purpose
        FACE_ENGINE_WORKERS: "2",
        MAX_QUEUE: "64",
        KIOSK_MAX_FRAME_BYTES: "262144",
        KIOSK_MAX_SESSIONS_PER_ADDRESS: "64",
        REQUEST_TIMEOUT_MS: "10000",
      },
      { timeoutMs: 90_000 },
    );
    await workerReady;
    log(`server ${server.url} (pid ${server.proc.pid}), nats ${nats.url}, worker pid ${worker.pid}`);
    const url = server.url;
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${url}${path}`, { method, headers: { "X-API-Key": KEYS.admin, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    await admin("POST", "/v1/companies", { company_id: "fuzz" });
    await admin("POST", "/v1/companies", { company_id: "keep" });
    const enrolled = await admin("POST", "/v1/companies/keep/users", { user_id: "kept", face_id: "k1", image: Buffer.from(faceApiSample(1)).toString("base64") });
    if (enrolled.status !== 201) throw new Error(`setup: enroll answered ${enrolled.status} ${await enrolled.text()}`);
    const keepBefore = JSON.stringify(((await (await admin("GET", "/v1/stats")).json()) as { companies: Record<string, unknown> }).companies.keep);
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as Parameters<typeof operationsFrom>[0];
    const ops = operationsFrom(openapi).filter((o) => !/\/(stream|ws)$/.test(o.path) || o.method !== "GET");
    const ctx: HttpContext = { base, keys: KEYS, company: "fuzz", protectedCompany: "keep" };
    const nc = await connect({ servers: nats.url, maxReconnectAttempts: 0 });

    const root = new Rng(options.seed);
    const fresh = (): CategoryResult => ({ inputs: 0, ok: 0, errors: {}, failures: {}, examples: [] });
    const results = Object.fromEntries(CATEGORIES.map((c) => [c, fresh()])) as Record<Category, CategoryResult>;
    let warmupInputs = 0;
    const record = (cat: Category, outcome: Outcome, what: string, counted: boolean) => {
      const r = results[cat];
      if (!counted) {
        // Warm-up inputs are malformed too: their failures count, their answers are not tabled.
        warmupInputs++;
        if (!isFailure(outcome)) return;
      } else r.inputs++;
      if (outcome === "ok") r.ok += counted ? 1 : 0;
      else if (isFailure(outcome)) {
        r.failures[outcome] = (r.failures[outcome] ?? 0) + 1;
        if (r.examples.length < 5) r.examples.push(`${outcome}: ${what}`);
      } else if (counted) r.errors[outcome] = (r.errors[outcome] ?? 0) + 1;
    };

    const round = async (count: number, counted: boolean, rng: Rng) => {
      const n = (c: Category) => Math.max(1, Math.round(count * SHARE[c]));
      const per = Object.fromEntries(CATEGORIES.map((c, i) => [c, rng.fork(i + 1)])) as Record<Category, Rng>;
      // HTTP bodies, headers, multipart, images: generated first (deterministic), sent 6 at a time.
      for (const cat of ["http-body", "http-headers", "multipart", "image"] as const) {
        const inputs = Array.from({ length: n(cat) }, () =>
          cat === "http-body" ? httpBodyInput(per[cat], ops, ctx) : cat === "http-headers" ? httpHeaderInput(per[cat], ops, ctx) : cat === "multipart" ? multipartInput(per[cat], ops, ctx) : imageInput(per[cat], ctx),
        );
        const started = Date.now();
        await pool(inputs, 6, async (input) => record(cat, await sendHttp(url, input, hangMs), `${input.label} ${input.method} ${input.path.slice(0, 80)}`, counted));
        log(`${counted ? "" : "warm-up "}${cat}: ${inputs.length} in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS server ${rssMb(server?.proc.pid).toFixed(0)} MB, worker ${rssMb(worker?.pid).toFixed(0)} MB`);
      }
      // Broken HTTP on the socket.
      {
        const inputs = Array.from({ length: n("raw-http") }, () => rawHttpInput(per["raw-http"], ctx));
        await pool(inputs, 4, async (input) => {
          let outcome = await sendRaw(url, input.payload, 800);
          if (outcome === "no-answer") outcome = RAW_INCOMPLETE.has(input.label) ? "transport-waits" : "hang";
          else if (outcome.startsWith("status:") || outcome === "closed") outcome = `transport-${outcome}`;
          record("raw-http", outcome, input.label, counted);
        });
        log(`${counted ? "" : "warm-up "}raw-http: ${inputs.length}; RSS server ${rssMb(server?.proc.pid).toFixed(0)} MB, worker ${rssMb(worker?.pid).toFixed(0)} MB`);
      }
      // Kiosk sessions: 3 at a time, each fed its share of inputs; reopened when the server closes one.
      {
        const total = n("ws");
        const lanes = 3;
        const maxFrame = 262_144;
        let seqN = 1_000_000 * (counted ? 2 : 1);
        await Promise.all(
          Array.from({ length: lanes }, async (_, lane) => {
            const rng = per.ws.fork(lane);
            let session: FuzzSession | null = null;
            for (let i = lane; i < total; i += lanes) {
              if (!session || session.closedWith !== null) {
                if (session && !(await session.settle(base.jpeg, hangMs))) record("ws", "hang", "session stuck: the last frame was not answered", counted);
                session = new FuzzSession(`${url.replace(/^http/, "ws")}/v1/kiosk/ws?company=fuzz&key=${KEYS.kiosk}`);
                if (!(await session.open(hangMs))) {
                  record("ws", "hang", "session did not open", counted);
                  session = null;
                  continue;
                }
              }
              const input = wsInput(rng, base, maxFrame);
              const outcome = await session.send(input, seqN++, hangMs);
              record("ws", outcome.startsWith("closed") ? `error:${outcome}` : outcome, input.label, counted);
            }
            if (session) {
              if (!(await session.settle(base.jpeg, hangMs))) record("ws", "hang", "session stuck at the end: the last frame was not answered", counted);
              // protocol problems were already counted by the message that revealed them
              session.close();
            }
          }),
        );
        log(`${counted ? "" : "warm-up "}ws: ${total}; RSS server ${rssMb(server?.proc.pid).toFixed(0)} MB, worker ${rssMb(worker?.pid).toFixed(0)} MB`);
      }
      // Upgrades with bad parameters: never a session, a documented close or refusal.
      {
        const inputs = Array.from({ length: n("ws-upgrade") }, () => badUpgradeQuery(per["ws-upgrade"], KEYS.kiosk));
        await pool(inputs, 4, async (input) => {
          const outcome = await new Promise<Outcome>((resolve) => {
            const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/kiosk/ws?${input.query}`, input.protocols);
            const timer = setTimeout(() => {
              ws.close();
              resolve("hang");
            }, hangMs);
            let ready = false;
            ws.addEventListener("message", (e) => {
              if (typeof e.data === "string" && e.data.includes('"ready"')) {
                ready = true;
                ws.close();
              }
            });
            ws.addEventListener("close", (e) => {
              clearTimeout(timer);
              if (ready) resolve(input.label === "bad-kiosk" ? "ok" : "undocumented:session-opened");
              else resolve(DOCUMENTED_CLOSES.has(e.code) ? `error:close-${e.code}` : `undocumented:close-${e.code}`);
            });
          });
          record("ws-upgrade", outcome, `${input.label} ${input.query.slice(0, 60)}`, counted);
        });
      }
      // NATS requests straight to the worker.
      {
        const inputs = Array.from({ length: n("nats") }, () => natsInput(per.nats, base, "fuzz"));
        await pool(inputs, 6, async (input) => record("nats", await sendNats(nc, input, hangMs), `${input.label} ${input.subject}`, counted));
        log(`${counted ? "" : "warm-up "}nats: ${inputs.length}; RSS server ${rssMb(server?.proc.pid).toFixed(0)} MB, worker ${rssMb(worker?.pid).toFixed(0)} MB`);
      }
    };

    // Warm-up: a round of the same size and mix (other inputs), so the baseline is taken with the
    // working set in place (libvips' operation cache, ONNX arenas, JavaScriptCore's heap): memory
    // that grows with the inputs (a leak) then shows, a working set filling up does not. Measured
    // with seed 4, 5,000 inputs: after a 600-input warm-up the server ended +61 MB above its
    // baseline, after a 5,000-input one +20 MB.
    await round(options.warmup ?? options.count, false, root.fork(0xbeef));
    const [bServer, bWorker] = await Promise.all([settledRss(server.proc.pid, settleMs), settledRss(worker.pid, settleMs)]);
    const baseline = { server: bServer, worker: bWorker };
    log(`baseline RSS: server ${baseline.server} MB, worker ${baseline.worker} MB`);
    const started = performance.now();
    await round(options.count, true, root);
    const seconds = (performance.now() - started) / 1000;
    await nc.close();

    const serverAlive = server.proc.exitCode === null;
    const workerAlive = worker.exitCode === null;
    const health = serverAlive ? (await fetch(`${url}/v1/health`).catch(() => null))?.status ?? 0 : 0;
    const keepAfter = serverAlive ? JSON.stringify(((await (await admin("GET", "/v1/stats")).json()) as { companies: Record<string, unknown> }).companies.keep) : "";
    const faces = serverAlive ? ((await (await admin("GET", "/v1/companies/keep/users/kept/faces")).json()) as { face_ids: string[] }).face_ids : [];
    const [aServer, aWorker] = await Promise.all([settledRss(server.proc.pid, settleMs + 2000), settledRss(worker.pid, settleMs + 2000)]);
    const after = { server: aServer, worker: aWorker };
    // Every kiosk frame accounted for (docs/kiosk.md): received = processed + dropped + rejected + errors + shed.
    const metrics = serverAlive ? await (await fetch(`${url}/metrics`, { headers: { "X-API-Key": KEYS.admin } })).text() : "";
    const counter = (name: string) => Number(new RegExp(`^facegate_kiosk_${name}_total (\\d+)`, "m").exec(metrics)?.[1] ?? Number.NaN);
    const frames = { received: counter("frames_received"), processed: counter("frames_processed"), dropped: counter("frames_dropped"), rejected: counter("frames_rejected"), errors: counter("frame_errors"), shed: counter("frames_shed") };
    const framesAccounted = frames.received === frames.processed + frames.dropped + frames.rejected + frames.errors + frames.shed;
    // "Back to its baseline": within 10 % or 48 MB of the post-warm-up figure (the allocator keeps some pages).
    const back = (b: number, a: number) => a <= b + Math.max(48, b * 0.1);

    const all = Object.values(results);
    const count = (pred: (k: string) => boolean) => all.reduce((n, r) => n + Object.entries(r.failures).filter(([k]) => pred(k)).reduce((m, [, v]) => m + v, 0), 0);
    const crashes = count((k) => k.startsWith("crash")) + (serverAlive ? 0 : 1) + (workerAlive ? 0 : 1);
    const result: FuzzResult = {
      seed: options.seed,
      inputs: all.reduce((n, r) => n + r.inputs, 0),
      warmupInputs,
      seconds: Math.round(seconds * 10) / 10,
      categories: results,
      crashes,
      hangs: count((k) => k === "hang"),
      undocumented: count((k) => k.startsWith("undocumented") || k.startsWith("protocol")),
      internal: count((k) => k.startsWith("internal")),
      memory: {
        server: { baselineMb: baseline.server, afterMb: after.server, peakMb: Math.round(peaks.server), backToBaseline: back(baseline.server, after.server) },
        worker: { baselineMb: baseline.worker, afterMb: after.worker, peakMb: Math.round(peaks.worker), backToBaseline: back(baseline.worker, after.worker) },
      },
      gallery: { untouched: keepAfter === keepBefore && faces.join() === "k1", detail: `keep before ${keepBefore}, after ${keepAfter}, faces ${JSON.stringify(faces)}` },
      kioskFrames: { ...frames, accounted: framesAccounted },
      health,
      passed: false,
    };
    result.passed =
      result.crashes === 0 && result.hangs === 0 && result.undocumented === 0 && result.internal === 0 && result.health === 200 && result.gallery.untouched && framesAccounted && result.memory.server.backToBaseline && result.memory.worker.backToBaseline;
    return result;
  } finally {
    clearInterval(sampler);
    await server?.stop().catch(() => 0);
    worker?.kill("SIGTERM");
    await Promise.race([worker?.exited, Bun.sleep(5000)]);
    if (worker && worker.exitCode === null) worker.kill("SIGKILL");
    await nats?.cleanup().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs: number): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  let found = false;
  while (!found) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`worker not ready: ${text.slice(-300)}`);
    const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
    if (!chunk || chunk.done) throw new Error(`worker not ready: ${text.slice(-300)}`);
    text += decoder.decode(chunk.value);
    found = pattern.test(text);
  }
  // keep draining so the pipe never blocks the worker
  void (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) return;
    }
  })();
}
