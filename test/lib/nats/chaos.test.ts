/**
 * Failures with real processes: worker child processes (`bun server/compose/worker.ts`) killed with
 * SIGKILL or stopped with SIGTERM under load, and the nats-server restarted under load.
 * Invariants: every write the client saw acknowledged is there afterwards, on every worker;
 * idempotent reads succeed through the client's retries; a draining worker loses nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { FaceClient } from "../../../lib/nats/client.ts";
import { ROOT, describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

interface ChildWorker {
  id: string;
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

let server: NatsServer;
let client: FaceClient;
const children: ChildWorker[] = [];
const lfw = (name: string, i: number) => readDataset("lfw-dev/images", name, listDataset("lfw-dev/images", name)[i]!);

async function spawnWorker(id: string, extraEnv: Record<string, string> = {}): Promise<ChildWorker> {
  const proc = spawn("bun", [join(ROOT, "server/compose/worker.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: server.url,
      WORKER_ID: id,
      WORKER_CONCURRENCY: "2",
      ORT_THREADS: "1",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const child: ChildWorker = { id, proc, output: () => out, exited };
  children.push(child);
  const deadline = Date.now() + 30_000;
  while (!out.includes(`[worker ${id}] ready`)) {
    if (proc.exitCode !== null) throw new Error(`worker ${id} exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`worker ${id} not ready:\n${out}`);
    await Bun.sleep(50);
  }
  return child;
}

/** Runs `reads` recognize loops and one enrolment loop until `stop` resolves; returns what happened. */
async function underLoad(stop: Promise<void>, tag: string, reads = 3) {
  let running = true;
  void stop.then(() => (running = false));
  const image = lfw("Ricardo_Lagos", 1);
  const readResults = { ok: 0, failed: [] as string[] };
  const acked: string[] = [];
  const writeFailures: string[] = [];
  const readers = Array.from({ length: reads }, async () => {
    while (running) {
      try {
        const r = await client.recognizeFace({ companyId: "acme", image });
        if (r.userId === "ricardo") readResults.ok++;
        else readResults.failed.push(`wrong user ${r.userId}`);
      } catch (e) {
        readResults.failed.push(String(e));
      }
    }
  });
  const writer = (async () => {
    const enrol = lfw("Paul_Wolfowitz", 0);
    for (let i = 0; running; i++) {
      const userId = `${tag}-${i}`;
      try {
        await client.createUser({ companyId: "acme", userId, faceId: "f1", image: enrol });
        acked.push(userId);
      } catch (e) {
        writeFailures.push(`${userId}: ${String(e)}`);
        await Bun.sleep(50);
      }
    }
  })();
  await Promise.all([...readers, writer]);
  if (process.env.CHAOS_DEBUG) console.log(tag, { reads: readResults.ok, acked: acked.length, writeFailures });
  return { readResults, acked, writeFailures };
}

/** Retries `check` until it passes (bounded): workers converge asynchronously through their watches. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await Bun.sleep(100);
    }
  }
}

async function expectAllPresent(userIds: string[]): Promise<void> {
  for (const userId of userIds) {
    expect({ userId, ...(await client.getUserFaces({ companyId: "acme", userId })) }).toEqual({ userId, faceIds: ["f1"] });
  }
}

describeWithTools(["nats-server"], "NATS failures (worker child processes, nats-server restarts)", () => {
  beforeAll(async () => {
    server = await startTestNatsServer();
    client = await FaceClient.connect({ servers: server.url, timeoutMs: 3000, retries: 4, backoffMs: 100 });
  });

  afterAll(async () => {
    await client?.close();
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await server?.cleanup();
  });

  test("a worker SIGKILLed mid-load: no acknowledged write lost, retried reads succeed", async () => {
    const [a, b] = await Promise.all([spawnWorker("kA"), spawnWorker("kB")]);
    await client.createCompany({ companyId: "acme" });
    await client.createUser({ companyId: "acme", userId: "ricardo", faceId: "f1", image: lfw("Ricardo_Lagos", 0) });

    const stop = (async () => {
      await Bun.sleep(1500);
      a.proc.kill("SIGKILL");
      await a.exited;
      await Bun.sleep(2000);
    })();
    const { readResults, acked } = await underLoad(stop, "kill");
    expect(readResults.failed).toEqual([]);
    expect(readResults.ok).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(0);
    expect(a.proc.signalCode).toBe("SIGKILL");

    // Everything acknowledged is in the bucket: the survivor has it, and so does a fresh worker.
    await expectAllPresent(acked);
    const c = await spawnWorker("kC");
    // A write the client gave up on may still land late (it was queued at a slow worker): the
    // invariant is that both workers converge on one revision and one view.
    await eventually(async () => {
      const workers = await client.workers();
      expect(workers.map((w) => w.workerId).sort()).toEqual([b.id, c.id]);
      expect(new Set(workers.map((w) => w.revision)).size).toBe(1);
      expect(new Set(workers.map((w) => w.usersCount)).size).toBe(1);
    });
  }, 90_000);

  test("nats-server restarted mid-load: clients and workers reconnect; acknowledged writes survive", async () => {
    const stop = (async () => {
      await Bun.sleep(1500);
      await server.restart();
      await Bun.sleep(3000);
    })();
    const { readResults, acked } = await underLoad(stop, "restart");
    expect(readResults.failed).toEqual([]);
    expect(readResults.ok).toBeGreaterThan(0);
    expect(acked.length).toBeGreaterThan(0);
    // Writes acknowledged after the restart prove the workers are back on the bucket.
    await expectAllPresent(acked);
    // Both workers' galleries follow the bucket after the restart (their watchers resumed).
    await eventually(async () => {
      const workers = await client.workers();
      expect(workers.length).toBe(2);
      const newest = Math.max(...workers.map((w) => w.revision));
      expect(newest).toBeGreaterThanOrEqual(client.lastRevision);
      for (const w of workers) expect(w.revision).toBe(newest);
    });
  }, 90_000);

  test("SIGTERM drains: requests already delivered are answered, then the worker exits 0", async () => {
    const d = await spawnWorker("kD");
    const noRetry = await FaceClient.connect({ servers: server.url, timeoutMs: 10_000, retries: 0 });
    const image = lfw("Ricardo_Lagos", 2);
    const calls = Array.from({ length: 12 }, () => noRetry.recognizeFace({ companyId: "acme", image }));
    await Bun.sleep(50);
    d.proc.kill("SIGTERM");
    const results = await Promise.allSettled(calls);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await d.exited).toBe(0);
    expect(d.output()).toContain("drained");
    await noRetry.close();
  }, 60_000);
}, describeDatasets);
