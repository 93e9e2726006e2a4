/**
 * HTTP load test of POST /v1/companies/:company/recognize: throughput and p50/p99 latency with
 * 1, 4 and 16 concurrent clients. Starts its own server (`bun server/main.ts`, a separate process,
 * in-memory store, loopback only), enrolls a gallery, runs each level for a fixed time, stops the
 * server. Bounded: at most `--seconds` per level plus a short warm-up.
 *
 *   bun run bench:load [-- --seconds 8 --clients 1,4,16 --users 50 --encoding raw --json bench/results/load.json]
 *                      [--max-inflight N --max-queue N]   (the server's admission limits; default: its own)
 *
 * A 503 UNAVAILABLE (admission limit reached) counts as "rejected", not as an error; the client
 * then waits `Retry-After` seconds (capped by the time left) before its next request, as a well-behaved client would.
 *
 * Images: LFW photos (250x250, one face) from the shared datasets: the first image of each of
 * `--users` people is enrolled, their second image is the query. Without the datasets the face-api
 * group photos are used (every face is recognized: slower per request).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../lib/nats/mod.ts";
import { quantile } from "./lfw-metrics.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith("--") ? args[i + 1] : fallback;
};
const seconds = Math.min(60, Math.max(1, Number(opt("seconds", "8"))));
const levels = opt("clients", "1,4,16").split(",").map(Number).filter((n) => n > 0 && n <= 64);
const userCount = Math.min(500, Number(opt("users", "50")));
const encoding = opt("encoding", "raw") as "raw" | "json" | "multipart";
const jsonOut = args.includes("--json") ? opt("json", "bench/results/load.json") : null;
const maxInflight = opt("max-inflight", "");
const maxQueue = opt("max-queue", "");
const DATASETS = resolve(ROOT, process.env.FACEGATE_DATASETS ?? "../shared/datasets");
const LFW = join(DATASETS, "lfw-dev/images");

interface Person {
  name: string;
  enroll: Uint8Array<ArrayBuffer>;
  query: Uint8Array<ArrayBuffer>;
}

function loadPeople(): { people: Person[]; source: string } {
  const read = (p: string) => new Uint8Array(readFileSync(p));
  if (existsSync(LFW)) {
    const people: Person[] = [];
    for (const name of readdirSync(LFW).sort()) {
      const files = readdirSync(join(LFW, name)).filter((f) => f.endsWith(".jpg")).sort();
      if (files.length < 2) continue;
      people.push({ name, enroll: read(join(LFW, name, files[0])), query: read(join(LFW, name, files[1])) });
      if (people.length >= userCount) break;
    }
    return { people, source: `LFW 250x250, ${people.length} people (first image enrolled, second queried)` };
  }
  const demo = join(ROOT, "node_modules/@vladmandic/face-api/demo");
  const people = [1, 2, 3, 4, 5, 6].map((n) => {
    const img = read(join(demo, `sample${n}.jpg`));
    return { name: `sample${n}`, enroll: img, query: img };
  });
  return { people, source: "face-api demo group photos (datasets not found)" };
}

function body(image: Uint8Array<ArrayBuffer>, extra: Record<string, string> = {}): { body: BodyInit; headers: Record<string, string>; query: string } {
  if (encoding === "json") {
    return { body: JSON.stringify({ image: Buffer.from(image).toString("base64"), ...extra }), headers: { "Content-Type": "application/json" }, query: "" };
  }
  if (encoding === "multipart") {
    const form = new FormData();
    form.set("image", new Blob([image], { type: "image/jpeg" }), "q.jpg");
    for (const [k, v] of Object.entries(extra)) form.set(k, v);
    return { body: form, headers: {}, query: "" };
  }
  return { body: image, headers: { "Content-Type": "image/jpeg" }, query: new URLSearchParams(extra).toString() };
}

/** Sum and count of the server's recognize_face operation histogram (its own compute time, no queueing). */
async function operationTotals(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (suffix: string) => {
    const m = new RegExp(`^facegate_operation_duration_seconds_${suffix}\\{operation="recognize_face",outcome="ok",way="http"\\} (\\S+)$`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { sum: read("sum"), count: read("count") };
}

const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const { people, source } = loadPeople();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
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
      ...(maxInflight ? { MAX_INFLIGHT: maxInflight } : {}),
      ...(maxQueue ? { MAX_QUEUE: maxQueue } : {}),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  const stop = () => {
    try {
      server.kill("SIGTERM");
    } catch {}
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  try {
    // wait until ready (bounded)
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`${url}/v1/health`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline || server.exitCode !== null) throw new Error("the server did not become ready");
      await Bun.sleep(200);
    }
    const health = (await (await fetch(`${url}/v1/health`)).json()) as { engine: { engine: string; backend: string; model_id: string } };

    // enroll
    await fetch(`${url}/v1/companies`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"company_id":"bench"}' });
    let enrolled = 0;
    for (const p of people) {
      const b = body(p.enroll, { user_id: p.name, face_id: "1" });
      const r = await fetch(`${url}/v1/companies/bench/users${b.query ? `?${b.query}` : ""}`, { method: "POST", headers: b.headers, body: b.body });
      if (r.status === 201) enrolled++;
      else await r.arrayBuffer();
    }
    console.log(`server ${url} (${health.engine.engine}, ${health.engine.backend}); enrolled ${enrolled}/${people.length}: ${source}`);

    const results = [];
    for (const clients of levels) {
      let next = 0;
      let correct = 0;
      let errors = 0;
      let rejected = 0;
      const latencies: number[] = [];
      const runFor = async (ms: number, record: boolean) => {
        const until = performance.now() + ms;
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (performance.now() < until) {
              const person = people[next++ % people.length];
              const b = body(person.query);
              const t = performance.now();
              const res = await fetch(`${url}/v1/companies/bench/recognize${b.query ? `?${b.query}` : ""}`, { method: "POST", headers: b.headers, body: b.body });
              const out = (await res.json()) as { user_id?: string | null; error?: { code: string } };
              const ms = performance.now() - t;
              if (res.status === 503 && out.error?.code === "UNAVAILABLE") {
                if (record) rejected++;
                const wait = Number(res.headers.get("retry-after") ?? "1") * 1000;
                await Bun.sleep(Math.max(0, Math.min(wait, until - performance.now())));
                continue;
              }
              if (!record) continue;
              if (res.status !== 200) errors++;
              else {
                latencies.push(ms);
                if (out.user_id === person.name) correct++;
              }
            }
          }),
        );
      };
      await runFor(Math.min(2000, seconds * 250), false); // warm-up
      const ops0 = await operationTotals(url);
      const t0 = performance.now();
      await runFor(seconds * 1000, true);
      const wall = (performance.now() - t0) / 1000;
      const ops1 = await operationTotals(url);
      const serviceMs = ((ops1.sum - ops0.sum) / Math.max(1, ops1.count - ops0.count)) * 1000;
      latencies.sort((a, b) => a - b);
      const row = {
        clients,
        requests: latencies.length,
        errors,
        rejected,
        seconds: round(wall, 2),
        throughputRps: round(latencies.length / wall, 1),
        p50Ms: round(quantile(latencies, 0.5)),
        p90Ms: round(quantile(latencies, 0.9)),
        p99Ms: round(quantile(latencies, 0.99)),
        maxMs: round(latencies[latencies.length - 1]),
        /** Mean time inside the service per recognize (decode, detect, embed, search), from /metrics. */
        serviceMeanMs: round(serviceMs),
        identifiedRate: round(correct / Math.max(1, latencies.length), 3),
      };
      results.push(row);
      console.log(`  ${clients} clients: ${row.throughputRps} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`);
    }

    console.log("\nclients | requests | errors | rejected | req/s | p50 ms | p90 ms | p99 ms | max ms | service mean ms | identified");
    console.log("------: | -------: | -----: | -------: | ----: | -----: | -----: | -----: | -----: | --------------: | ---------:");
    for (const r of results) {
      console.log(
        `${r.clients} | ${r.requests} | ${r.errors} | ${r.rejected} | ${r.throughputRps} | ${r.p50Ms} | ${r.p90Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.serviceMeanMs} | ${(r.identifiedRate * 100).toFixed(1)} %`,
      );
    }
    if (jsonOut) {
      const report = {
        bench: "load",
        date: new Date().toISOString(),
        command: `bun bench/load.ts ${args.join(" ")}`.trim(),
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, bun: Bun.version, loadavgAtEnd: loadavg().map((x) => round(x, 2)) },
        server: {
          engine: health.engine,
          store: "memory",
          encoding,
          route: "POST /v1/companies/:company/recognize",
          maxInflight: maxInflight || "default",
          maxQueue: maxQueue || "default",
        },
        images: source,
        enrolled,
        secondsPerLevel: seconds,
        results,
      };
      writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`\nwrote ${jsonOut}`);
    }
  } finally {
    stop();
    await Promise.race([server.exited, Bun.sleep(15_000)]);
  }
}

await main();
