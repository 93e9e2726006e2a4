/**
 * Recognition over NATS: throughput with 1 and 2 worker processes (pinned to one CPU each with
 * taskset when available), and the per-request overhead of NATS against calling LocalFaceService
 * in-process. Uses LFW images from the shared datasets.
 *
 *   bun run bench:nats [-- --requests 400 --concurrency 4 --rounds 5 --json bench/results/nats.json]
 *
 * Layout: a local nats-server; workers are `bun server/compose/worker.ts` child processes; the load
 * generator (FaceClient) and the in-process baseline run in this process. On a 2-core machine the
 * load generator shares the CPUs with the workers: numbers are a lower bound of what a worker does.
 *
 * Scaling is measured in rounds, back to back (the machine may be shared): each round runs 1 worker,
 * 2 workers with least-loaded routing (the client's default) and 2 workers with plain queue-group
 * routing. Three worker processes stay up on two subject prefixes (one alone on CPU 0, a pair on
 * CPUs 0 and 1), so a round switches configuration without restarting anything; idle workers cost
 * nothing. The ratio of each round is reported, and their median.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type FaceApi, MemoryGalleryStore } from "../lib/core/internal.ts";
import { createEngine } from "../lib/engine/mod.ts";
import { FaceClient, type NatsServer, startNatsServer } from "../lib/nats/mod.ts";
import { LocalFaceService } from "../lib/service/mod.ts";
import { quantile } from "./lfw-metrics.ts";
import { readDataset, listDataset, HAVE_DATASETS, DATASETS } from "../test/helpers/datasets.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1]!.startsWith("--") ? args[i + 1]! : fallback;
};
const REQUESTS = Number(opt("requests", "400"));
const CONCURRENCY = Number(opt("concurrency", "4"));
const ROUNDS = Number(opt("rounds", "5"));
const jsonOut = args.includes("--json") ? opt("json", "bench/results/nats.json") : null;

if (!HAVE_DATASETS) {
  console.error(`bench/nats.ts needs the shared datasets (${DATASETS}); set FACEGATE_DATASETS`);
  process.exit(1);
}

const PEOPLE = ["Ricardo_Lagos", "Paul_Wolfowitz", "Jennifer_Lopez", "Zhu_Rongji", "Tang_Jiaxuan", "Paul_Martin", "John_Snow", "John_Bolton"];
const photo = (name: string, i: number) => readDataset("lfw-dev/images", name, listDataset("lfw-dev/images", name)[i]!);
const queries = PEOPLE.flatMap((p) => [1, 2, 3].map((i) => photo(p, i)));

const taskset = spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const ncpu = cpus().length;

interface Run {
  name: string;
  requests: number;
  concurrency: number;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p95Ms: number;
  /** CPU time per request: this process (client side, or everything when in-process). */
  cpuMsPerRequestHere: number;
  /** CPU time per request in the worker processes (0 in-process). */
  cpuMsPerRequestWorkers: number;
  /** CPU time per request in nats-server. */
  cpuMsPerRequestNats: number;
}

/** utime + stime of a process (all threads) in ms, from /proc (Linux); 0 where unreadable. */
function procCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return 0;
  }
}
let workerPids: number[] = [];
let natsPid: number | undefined;

async function drive(name: string, n: number, concurrency: number, call: (i: number) => Promise<unknown>): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const wcpu0 = workerPids.reduce((n, p) => n + procCpuMs(p), 0);
  const ncpu0 = procCpuMs(natsPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await call(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const wcpu = workerPids.reduce((n, p) => n + procCpuMs(p), 0) - wcpu0;
  const natsCpu = procCpuMs(natsPid) - ncpu0;
  lat.sort((a, b) => a - b);
  return {
    name,
    requests: n,
    concurrency,
    seconds,
    throughput: n / seconds,
    p50Ms: quantile(lat, 0.5),
    p95Ms: quantile(lat, 0.95),
    cpuMsPerRequestHere: (cpu.user + cpu.system) / 1000 / n,
    cpuMsPerRequestWorkers: wcpu / n,
    cpuMsPerRequestNats: natsCpu / n,
  };
}

async function enrol(api: FaceApi): Promise<void> {
  await api.createCompany({ companyId: "bench" });
  for (const p of PEOPLE) {
    await api.createUser({ companyId: "bench", userId: p, faceId: "f0", image: photo(p, 0) }).catch((e: { code?: string }) => {
      if (e.code !== "USER_EXISTS") throw e;
    });
  }
}

function spawnWorker(server: NatsServer, id: string, cpu: number | null, prefix: string): Promise<ChildProcess> {
  const cmd = cpu !== null ? ["taskset", "-c", String(cpu), "bun", "server/compose/worker.ts"] : ["bun", "server/compose/worker.ts"];
  const proc = spawn(cmd[0]!, cmd.slice(1), {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: server.url, WORKER_ID: id, WORKER_CONCURRENCY: "2", ORT_THREADS: "1", NATS_SUBJECT_PREFIX: prefix },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id} not ready:\n${out}`)), 60_000);
    const check = setInterval(() => {
      if (out.includes(`[worker ${id}] ready`)) {
        clearInterval(check);
        clearTimeout(timer);
        resolveReady(proc);
      }
    }, 50);
    proc.once("exit", (code) => {
      clearInterval(check);
      clearTimeout(timer);
      reject(new Error(`${id} exited ${code}:\n${out}`));
    });
  });
}

async function stopWorkers(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((r) => {
          if (p.exitCode !== null) return r();
          p.once("exit", () => r());
          p.kill("SIGTERM");
        }),
    ),
  );
}

async function main(): Promise<void> {
  const runs: Run[] = [];
  const rounds: Array<{ round: number; oneWorker: number; twoWorkers: number; twoWorkersQueue: number; ratio: number; ratioQueue: number }> = [];
  let paired = { natsMinusInProcessP50Ms: 0, base64MinusBinaryP50Ms: 0 };
  const server = await startNatsServer();
  const engine = await createEngine({ ortThreads: 1 });
  const local = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), log: () => {} });
  await enrol(local);
  const q = (i: number) => queries[i % queries.length]!;
  try {
    // In-process baseline (this process, not pinned).
    await drive("warm-up", 10, 1, (i) => local.recognizeFace({ companyId: "bench", image: q(i) }));
    runs.push(await drive("in-process recognize", REQUESTS, 1, (i) => local.recognizeFace({ companyId: "bench", image: q(i) })));
    runs.push(await drive("in-process getUserFaces", 2000, 1, () => local.getUserFaces({ companyId: "bench", userId: PEOPLE[0]! })));

    natsPid = server.pid;
    const P1 = "bench1.v1";
    const P2 = "bench2.v1";
    const client = await FaceClient.connect({ servers: server.url, timeoutMs: 30_000, env: {}, subjectPrefix: P1 });
    const w1 = await spawnWorker(server, "bench-w1", taskset ? 0 : null, P1);
    workerPids = [w1.pid!];
    await enrol(client);
    await drive("warm-up", 10, 1, (i) => client.recognizeFace({ companyId: "bench", image: q(i) }));
    runs.push(await drive("NATS 1 worker recognize", REQUESTS, 1, (i) => client.recognizeFace({ companyId: "bench", image: q(i) })));
    // Paired: the same image in-process, through NATS (binary) and through NATS (base64 in JSON),
    // back to back, so load drift on a shared machine hits all three alike.
    const diffs = { nats: [] as number[], base64: [] as number[] };
    const b64All = queries.map((b) => Buffer.from(b).toString("base64"));
    const timeIt = async (f: () => Promise<unknown>) => {
      const t = performance.now();
      await f();
      return performance.now() - t;
    };
    for (let i = 0; i < REQUESTS; i++) {
      // The order rotates each iteration: the call that runs right after another is a few ms faster
      // on this machine (measured in-process too), which would bias a fixed order.
      const calls = [
        () => local.recognizeFace({ companyId: "bench", image: q(i) }),
        () => client.recognizeFace({ companyId: "bench", image: q(i) }),
        () => client.recognizeFace({ companyId: "bench", image: b64All[i % b64All.length]! }),
      ];
      const t: number[] = [0, 0, 0];
      for (let k = 0; k < 3; k++) {
        const j = (i + k) % 3;
        t[j] = await timeIt(calls[j]!);
      }
      diffs.nats.push(t[1]! - t[0]!);
      diffs.base64.push(t[2]! - t[1]!);
    }
    paired = {
      natsMinusInProcessP50Ms: quantile([...diffs.nats].sort((a, b) => a - b), 0.5),
      base64MinusBinaryP50Ms: quantile([...diffs.base64].sort((a, b) => a - b), 0.5),
    };
    runs.push(await drive("NATS 1 worker getUserFaces", 2000, 1, () => client.getUserFaces({ companyId: "bench", userId: PEOPLE[0]! })));

    // The pair on the second prefix; then the rounds, back to back.
    const w2a = await spawnWorker(server, "bench-w2a", taskset ? 0 : null, P2);
    const w2b = await spawnWorker(server, "bench-w2b", taskset ? 1 % ncpu : null, P2);
    const pair = await FaceClient.connect({ servers: server.url, timeoutMs: 30_000, env: {}, subjectPrefix: P2 });
    const pairQueue = await FaceClient.connect({ servers: server.url, timeoutMs: 30_000, env: {}, subjectPrefix: P2, routing: "queue" });
    const recognizeWith = (c: FaceClient) => (i: number) => c.recognizeFace({ companyId: "bench", image: q(i) });
    // As much warm-up as the single worker had above (its runs), so no round compares a warm worker
    // with cold ones (the JIT tiers up over the first few hundred requests: 9.8 vs 7.7 ms of worker CPU).
    await drive("warm-up", REQUESTS * 2, CONCURRENCY, recognizeWith(pair));
    await drive("warm-up", REQUESTS, CONCURRENCY, recognizeWith(pairQueue));
    for (let round = 1; round <= ROUNDS; round++) {
      workerPids = [w1.pid!];
      const one = await drive(`round ${round}: NATS 1 worker recognize x${CONCURRENCY}`, REQUESTS, CONCURRENCY, recognizeWith(client));
      workerPids = [w2a.pid!, w2b.pid!];
      const two = await drive(`round ${round}: NATS 2 workers recognize x${CONCURRENCY}`, REQUESTS, CONCURRENCY, recognizeWith(pair));
      const twoQueue = await drive(`round ${round}: NATS 2 workers, queue-group routing x${CONCURRENCY}`, REQUESTS, CONCURRENCY, recognizeWith(pairQueue));
      runs.push(one, two, twoQueue);
      rounds.push({ round, oneWorker: one.throughput, twoWorkers: two.throughput, twoWorkersQueue: twoQueue.throughput, ratio: two.throughput / one.throughput, ratioQueue: twoQueue.throughput / one.throughput });
      console.log(`round ${round}: 1 worker ${one.throughput.toFixed(1)} req/s, 2 workers ${two.throughput.toFixed(1)} (${(two.throughput / one.throughput).toFixed(2)}x), queue-group routing ${twoQueue.throughput.toFixed(1)} (${(twoQueue.throughput / one.throughput).toFixed(2)}x)`);
    }
    const perWorker = (await pair.workers()).map((w) => ({ workerId: w.workerId, processed: w.processed }));
    await Promise.all([client.close(), pair.close(), pairQueue.close()]);
    await stopWorkers([w1, w2a, w2b]);

    const by = (name: string) => runs.find((r) => r.name === name)!;
    const overhead = {
      /** Median of paired (NATS − in-process) recognize times, same image back to back. */
      recognizePairedP50Ms: paired.natsMinusInProcessP50Ms,
      /** getUserFaces: no engine work, so this is the bare request/reply + JSON + zod cost. */
      roundTripP50Ms: by("NATS 1 worker getUserFaces").p50Ms - by("in-process getUserFaces").p50Ms,
      /** Median of paired (base64-in-JSON − binary part) recognize times. */
      base64VsBinaryPairedP50Ms: paired.base64MinusBinaryP50Ms,
    };
    const cpuOverhead = {
      /** (client + worker CPU per recognize over NATS) − (CPU per recognize in-process): load-independent. */
      recognizeCpuMs:
        by("NATS 1 worker recognize").cpuMsPerRequestHere + by("NATS 1 worker recognize").cpuMsPerRequestWorkers - by("in-process recognize").cpuMsPerRequestHere,
      roundTripCpuMs:
        by("NATS 1 worker getUserFaces").cpuMsPerRequestHere + by("NATS 1 worker getUserFaces").cpuMsPerRequestWorkers - by("in-process getUserFaces").cpuMsPerRequestHere,
    };
    const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
    const scaling = median(rounds.map((r) => r.ratio));
    const scalingQueue = median(rounds.map((r) => r.ratioQueue));
    // Load-independent: where the CPU of a request goes with 2 workers (worker, gateway client,
    // nats-server), and the ratio two cores could give if nothing but that CPU counted (the client
    // and nats-server share the cores with the workers; with one worker they have a core to spare).
    const pairRuns = runs.filter((r) => r.name.includes("2 workers recognize"));
    const cpuProfile = {
      workerMs: median(pairRuns.map((r) => r.cpuMsPerRequestWorkers)),
      gatewayClientMs: median(pairRuns.map((r) => r.cpuMsPerRequestHere)),
      natsServerMs: median(pairRuns.map((r) => r.cpuMsPerRequestNats)),
    };
    const cpuCeiling = (2 * cpuProfile.workerMs) / (cpuProfile.workerMs + cpuProfile.gatewayClientMs + cpuProfile.natsServerMs);
    const avgImageBytes = Math.round(queries.reduce((n, b) => n + b.byteLength, 0) / queries.length);

    console.log(`\nNATS scale-out, ${ncpu} CPUs, workers ${taskset ? "pinned with taskset (worker i on CPU i)" : "not pinned (no taskset)"}; ` +
      `LFW 250x250 JPEG queries (${avgImageBytes} B avg), gallery of ${PEOPLE.length} users\n`);
    console.log("| run | requests | concurrency | req/s | p50 ms | p95 ms | CPU ms/req here | CPU ms/req workers | CPU ms/req nats-server |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const r of runs) {
      console.log(
        `| ${r.name} | ${r.requests} | ${r.concurrency} | ${r.throughput.toFixed(1)} | ${r.p50Ms.toFixed(2)} | ${r.p95Ms.toFixed(2)} | ` +
          `${r.cpuMsPerRequestHere.toFixed(2)} | ${r.cpuMsPerRequestWorkers.toFixed(2)} | ${r.cpuMsPerRequestNats.toFixed(2)} |`,
      );
    }
    console.log(`\nNATS overhead per request (median of paired differences): recognize ${overhead.recognizePairedP50Ms.toFixed(2)} ms; ` +
      `bare round trip (getUserFaces p50) ${overhead.roundTripP50Ms.toFixed(2)} ms; ` +
      `base64-in-JSON instead of a binary part: ${overhead.base64VsBinaryPairedP50Ms >= 0 ? "+" : ""}${overhead.base64VsBinaryPairedP50Ms.toFixed(2)} ms`);
    console.log(`NATS CPU overhead per request (client + worker − in-process): recognize ${cpuOverhead.recognizeCpuMs.toFixed(2)} ms, bare round trip ${cpuOverhead.roundTripCpuMs.toFixed(2)} ms`);
    console.log(
      `CPU per recognize with 2 workers (median of rounds): worker ${cpuProfile.workerMs.toFixed(2)} ms, gateway client ` +
        `${cpuProfile.gatewayClientMs.toFixed(2)} ms, nats-server ${cpuProfile.natsServerMs.toFixed(2)} ms -> CPU-bound ceiling for 2 workers on 2 cores ${cpuCeiling.toFixed(2)}x ` +
        `(random queue-group routing with ${CONCURRENCY} in flight: x ${((2 * CONCURRENCY) / (CONCURRENCY + 1) / 2).toFixed(2)} more)`,
    );
    console.log(`load average during the run: ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
    console.log(
      `2 workers / 1 worker throughput, median of ${rounds.length} rounds: ${scaling.toFixed(2)}x least-loaded routing ` +
        `(${rounds.map((r) => r.ratio.toFixed(2)).join(", ")}), ${scalingQueue.toFixed(2)}x queue-group routing ` +
        `(${rounds.map((r) => r.ratioQueue.toFixed(2)).join(", ")}); requests per worker of the pair: ${perWorker.map((w) => `${w.workerId} ${w.processed}`).join(", ")}`,
    );

    if (jsonOut) {
      mkdirSync(dirname(resolve(jsonOut)), { recursive: true });
      writeFileSync(
        jsonOut,
        JSON.stringify(
          {
            date: new Date().toISOString(),
            cpus: ncpu,
            pinned: taskset,
            requests: REQUESTS,
            concurrency: CONCURRENCY,
            avgImageBytes,
            runs,
            overhead,
            cpuOverhead,
            loadAverage: loadavg(),
            rounds: ROUNDS,
            scaling2v1: scaling,
            scaling2v1Queue: scalingQueue,
            roundRatios: rounds,
            cpuProfile,
            cpuCeiling2v1: cpuCeiling,
            perWorker,
            command: `bun bench/nats.ts ${args.join(" ")}`.trim(),
          },
          null,
          2,
        ) + "\n",
      );
      console.log(`\nwrote ${join(jsonOut)}`);
    }
  } finally {
    await local.close();
    await engine.dispose();
    await server.cleanup();
  }
}

await main();
process.exit(0);
