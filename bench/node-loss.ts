/**
 * bench:node-loss: issue 21's 3-node node-loss scenario, measured from outside. Three nats-servers
 * (a cluster, JetStream on each), a worker process on each (`bun run worker`, NATS_KV_REPLICAS=3),
 * the gateway process (`server/main.ts`) given all three URLs, and an HTTP client (HttpFaceClient:
 * an Idempotency-Key per write, retried after 503s, timeouts and connection errors) enrolling
 * people and deleting each one it enrolled. After a few enrollments the node holding the gallery's
 * stream leader is SIGKILLed with its worker. Then every answer is checked against the gallery:
 *
 * - a delete of a person this client enrolled (nobody else deletes them) must answer `deleted: true`;
 * - an enrollment that answered an error must not have been applied (the person must be absent).
 *
 *   bun bench/node-loss.ts [--runs 10] [--enrollments 30] [--before <checkout>]
 *
 * `--before <checkout>`: also run the scenario against another checkout's server and worker (e.g. a
 * git worktree of the commit before idempotency keys), alternating runs, and report both.
 * Writes bench/results/node-loss.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { FaceError } from "../lib/core/internal.ts";
import { KvGalleryStore } from "../lib/nats/mod.ts";
import { startNatsCluster, type NatsCluster } from "../lib/nats/mod.ts";
import { HttpFaceClient } from "../server/http/client.ts";

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

export interface NodeLossOptions {
  /** The checkout whose server/main.ts and worker run (default: this one). */
  root?: string;
  /** Enrollments in the run (default 30). */
  enrollments?: number;
  /** Acknowledged enrollments before the kill (default 4). */
  killAfter?: number;
  /** The photo every enrollment sends (one face is enough: ids differ). */
  photo: Uint8Array;
  natsServerBin?: string;
  log?: (message: string) => void;
}

export interface NodeLossResult {
  root: string;
  killedNode: string;
  enrollments: number;
  enrolled: number;
  /** Enrollments that answered an error: [code, applied?]. */
  enrollErrors: Array<{ userId: string; code: string; applied: boolean }>;
  /** Errors answered for enrollments that were applied (USER_EXISTS for its own write included). */
  untruthfulEnrollments: number;
  deletes: number;
  deletedTrue: number;
  /** `deleted: false` answered by the request that deleted the person. */
  deletedFalse: number;
  deleteErrors: Array<{ userId: string; code: string; applied: boolean }>;
  /** Errors answered for deletes that were applied. */
  untruthfulDeletes: number;
  /** Operations answered after the kill. */
  afterKill: number;
  ms: number;
}

interface Child {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

/** The worker's entry point in a checkout (it moved to server/compose/ with issue 20). */
function workerEntry(root: string): string {
  const moved = join(root, "server/compose/worker.ts");
  return existsSync(moved) ? moved : join(root, "server/worker.ts");
}

function start(cmd: string[], cwd: string, env: Record<string, string>): Child {
  const proc = spawn(cmd[0]!, cmd.slice(1), {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  return { proc, out: () => out, exited };
}

async function waitFor(what: string, check: () => boolean, child: Child, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (child.proc.exitCode !== null) throw new Error(`${what}: exited ${child.proc.exitCode}\n${child.out().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready in time\n${child.out().slice(-3000)}`);
    await Bun.sleep(50);
  }
}

async function leaderOf(url: string): Promise<string> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    return (await jsm.streams.info("KV_facegate")).cluster!.leader!;
  } finally {
    await nc.close();
  }
}

export async function runNodeLoss(opts: NodeLossOptions): Promise<NodeLossResult> {
  const root = opts.root ?? ROOT;
  const log = opts.log ?? (() => {});
  const total = opts.enrollments ?? 30;
  const killAfter = opts.killAfter ?? 4;
  const started = Date.now();
  let cluster: NatsCluster | undefined;
  const children: Child[] = [];
  try {
    cluster = await startNatsCluster({ nodes: 3, ...(opts.natsServerBin ? { bin: opts.natsServerBin } : {}) });
    // The bucket first (3 replicas), to know the stream leader: its node is the one killed.
    // Right after start JetStream may not know every peer yet ("no suitable peers for placement").
    const nc = await connect({ servers: cluster.urls[0]! });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          (await KvGalleryStore.open({ nc, replicas: 3 })).close();
          break;
        } catch (e) {
          if (attempt >= 60 || !/no suitable peers/.test(String((e as Error).message))) throw e;
          await Bun.sleep(500);
        }
      }
    } finally {
      await nc.close();
    }
    const victim = cluster.names.indexOf(await leaderOf(cluster.urls[0]!));
    const common = { NATS_KV_REPLICAS: "3", FACE_ENGINE_WORKERS: "1", ORT_THREADS: "1", LOG_LEVEL: "info" };
    const workers = cluster.urls.map((url, i) =>
      start(["bun", workerEntry(root)], root, { ...common, NATS_URL: url, WORKER_ID: `w${i + 1}`, WORKER_CONCURRENCY: "1" }),
    );
    children.push(...workers);
    await Promise.all(workers.map((w, i) => waitFor(`worker w${i + 1}`, () => w.out().includes(`[worker w${i + 1}] ready`), w)));
    const gateway = start(["bun", join(root, "server/main.ts")], root, {
      ...common,
      NATS_URL: cluster.urls.join(","),
      PORT: "0",
      HOST: "127.0.0.1",
      RATE_LIMIT_PER_MINUTE: "0",
    });
    children.push(gateway);
    await waitFor("gateway", () => /"msg":"ready"|no worker answered yet/.test(gateway.out()), gateway);
    const url = /"msg":"listening"[^\n]*"url":"([^"]+)"/.exec(gateway.out())?.[1];
    if (!url) throw new Error(`gateway URL not found:\n${gateway.out()}`);
    log(`cluster up (leader ${cluster.names[victim]}), gateway ${url}, root ${root}`);

    const client = new HttpFaceClient({ url, writeRetries: 5, backoffMs: 300, timeoutMs: 20_000 });
    await client.createCompany({ companyId: "acme" });
    const enrollErrors: Array<{ userId: string; code: string; applied: boolean }> = [];
    const deleteErrors: Array<{ userId: string; code: string; applied: boolean }> = [];
    const toDelete: string[] = [];
    let enrolled = 0;
    let deletedTrue = 0;
    let deletedFalse = 0;
    let deletes = 0;
    let killedAt = 0;
    let afterKill = 0;
    let enrolling = true;

    const kill = async () => {
      log(`killing ${cluster!.names[victim]} and w${victim + 1}`);
      killedAt = Date.now();
      workers[victim]!.proc.kill("SIGKILL");
      await cluster!.nodes[victim]!.kill();
    };
    const enroll = (async () => {
      for (let i = 0; i < total; i++) {
        const userId = `p${i}`;
        try {
          await client.createUser({ companyId: "acme", userId, faceId: "f1", image: opts.photo });
          enrolled++;
          toDelete.push(userId);
          if (enrolled === killAfter) void kill();
        } catch (e) {
          enrollErrors.push({ userId, code: FaceError.from(e).code, applied: false });
        }
        if (killedAt) afterKill++;
      }
      enrolling = false;
    })();
    const remove = (async () => {
      while (enrolling || toDelete.length > 0) {
        const userId = toDelete.shift();
        if (!userId) {
          await Bun.sleep(20);
          continue;
        }
        deletes++;
        try {
          const r = await client.deleteUser({ companyId: "acme", userId });
          if (r.deleted) deletedTrue++;
          else deletedFalse++;
        } catch (e) {
          deleteErrors.push({ userId, code: FaceError.from(e).code, applied: false });
        }
        if (killedAt) afterKill++;
      }
    })();
    await Promise.all([enroll, remove]);

    // The truth, read back through the gateway once the cluster settled.
    const present = async (userId: string) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return (await client.getUserFaces({ companyId: "acme", userId })).faceIds.length > 0;
        } catch (e) {
          if (attempt >= 20) throw e;
          await Bun.sleep(500);
        }
      }
    };
    for (const e of enrollErrors) e.applied = await present(e.userId);
    for (const e of deleteErrors) e.applied = !(await present(e.userId));
    const result: NodeLossResult = {
      root,
      killedNode: cluster.names[victim]!,
      enrollments: total,
      enrolled,
      enrollErrors,
      untruthfulEnrollments: enrollErrors.filter((e) => e.applied).length,
      deletes,
      deletedTrue,
      deletedFalse,
      deleteErrors,
      untruthfulDeletes: deleteErrors.filter((e) => e.applied).length,
      afterKill,
      ms: Date.now() - started,
    };
    log(JSON.stringify({ ...result, enrollErrors: enrollErrors.map((e) => `${e.userId}:${e.code}:${e.applied}`), deleteErrors: deleteErrors.length }));
    return result;
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await cluster?.cleanup();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const runs = Number(arg("--runs") ?? 10);
  const enrollments = Number(arg("--enrollments") ?? 30);
  const before = arg("--before");
  const { faceApiSample } = await import("../test/helpers/datasets.ts");
  const photo = faceApiSample(1);
  const variants = [...(before ? [{ name: "before", root: resolve(before) }] : []), { name: "after", root: ROOT }];
  const results: Record<string, NodeLossResult[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
  const load: number[] = [];
  for (let run = 0; run < runs; run++) {
    for (const v of variants) {
      load.push(loadavg()[0]!);
      const r = await runNodeLoss({ root: v.root, enrollments, photo, log: (m) => console.error(`[${v.name} ${run + 1}/${runs}] ${m}`) });
      results[v.name]!.push(r);
    }
  }
  const sum = (rs: NodeLossResult[], f: (r: NodeLossResult) => number) => rs.reduce((n, r) => n + f(r), 0);
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      {
        runs: rs.length,
        enrollments: sum(rs, (r) => r.enrollments),
        enrollErrors: sum(rs, (r) => r.enrollErrors.length),
        enrollErrorsApplied: sum(rs, (r) => r.untruthfulEnrollments),
        userExistsForOwnWrite: sum(rs, (r) => r.enrollErrors.filter((e) => e.applied && e.code === "USER_EXISTS").length),
        deletes: sum(rs, (r) => r.deletes),
        deletedFalseForOwnDelete: sum(rs, (r) => r.deletedFalse),
        runsWithDeletedFalse: rs.filter((r) => r.deletedFalse > 0).length,
        deleteErrors: sum(rs, (r) => r.deleteErrors.length),
        deleteErrorsApplied: sum(rs, (r) => r.untruthfulDeletes),
        runsWithAnUntruthfulAnswer: rs.filter((r) => r.deletedFalse + r.untruthfulEnrollments + r.untruthfulDeletes > 0).length,
      },
    ]),
  );
  console.table(summary);
  const out = {
    command: `bun bench/node-loss.ts --runs ${runs} --enrollments ${enrollments}${before ? " --before <checkout>" : ""}`,
    machine: { cpus: cpus().length, loadavg1: { min: Math.min(...load), max: Math.max(...load) } },
    at: new Date().toISOString(),
    summary,
    runs: results,
  };
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/node-loss.json"), `${JSON.stringify(out, null, 2)}\n`);
}

if (import.meta.main) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
