/**
 * The container image and the compose files, with real podman (runc) and docker-compose over
 * podman's API: the image is built from the Containerfile FROM a debootstrap base
 * (deploy/test/make-base.sh), then
 *  - deploy/compose.embedded.yaml: one container enrolls and recognizes real LFW photos; SIGTERM
 *    (`podman stop`) lets an in-flight request finish and the server exit 0; the gallery survives a
 *    restart in its named volume;
 *  - deploy/compose.yaml: a 3-node NATS cluster, 2 workers and the gateway come up health-gated;
 *    the gallery's KV bucket has 3 replicas; enroll and recognize through the gateway; one worker
 *    container is SIGKILLed under a stream of writes and recognitions (every acknowledged write is
 *    there afterwards, recognition goes on); `--scale worker=3` adds a third; down -v leaves nothing.
 * Needs podman, runc, docker-compose and debootstrap (CI installs them; elsewhere the suite skips
 * saying so) and the shared datasets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FaceError } from "../../lib/core/mod.ts";
import { freePort } from "../../lib/nats/mod.ts";
import { HttpFaceClient } from "../../server/http/client.ts";
import { describeDatasets, listDataset, readDataset, ROOT } from "../helpers/datasets.ts";
import { describeWithTools } from "../helpers/tools.ts";
import { APP_IMAGE, buildImages, ComposeProject, run, startHealthTicker, startPodmanService, waitFor, type PodmanService } from "./podman.ts";

const KEY = "deploy-test-admin-key";
// single-quoted JSON, as docs/deploy.md writes it: read alike by compose, Bun and systemd
const SETTINGS = `API_KEYS='{"${KEY}":["*"]}'\nLOG_LEVEL=info\n`;
const COMPANY = "acme";
const MINUTES = 60_000;

/** LFW people with at least two photos: enroll the first, recognize with the second. */
function lfwPeople(count: number, skip = 0): Array<{ name: string; enroll: Uint8Array; probe: Uint8Array }> {
  const people = listDataset("lfw-dev/images")
    .map((name) => ({ name, files: listDataset("lfw-dev/images", name) }))
    .filter((p) => p.files.length >= 2)
    .slice(skip, skip + count);
  return people.map((p) => ({
    name: p.name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
    enroll: readDataset("lfw-dev/images", p.name, p.files[0]),
    probe: readDataset("lfw-dev/images", p.name, p.files[1]),
  }));
}

async function healthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return res?.status === 200;
}

let service: PodmanService;
const suffix = `${process.pid}`;

describeWithTools(
  ["podman", "runc", "docker-compose", "debootstrap"],
  "container image and compose files (podman)",
  () => {
    beforeAll(async () => {
      await buildImages();
      service = await startPodmanService();
    }, 15 * MINUTES);

    afterAll(async () => {
      await service?.stop();
    }, MINUTES);

    test("the image: non-root, a HEALTHCHECK, SIGTERM as stop signal, models verified, the CLI role", async () => {
      const config = JSON.parse((await run(["podman", "image", "inspect", APP_IMAGE])).stdout)[0] as {
        Config: { User: string; StopSignal?: string; Entrypoint: string[] };
        StopSignal?: string;
        Healthcheck?: { Test: string[] };
      };
      expect(config.Config.User).toBe("facegate");
      expect(config.Config.Entrypoint).toEqual(["/app/deploy/entrypoint.sh"]);
      expect(config.StopSignal ?? config.Config.StopSignal).toBe("SIGTERM");
      expect(config.Healthcheck?.Test).toEqual(["CMD", "bun", "/app/deploy/healthcheck.ts"]);
      const check = await run(["podman", "run", "--rm", "--network", "none", APP_IMAGE, "models", "--check"]);
      expect(check.stdout).toContain("ok       fr_feature");
      const id = await run(["podman", "run", "--rm", "--network", "none", APP_IMAGE, "id", "-u"]);
      expect(Number(id.stdout.trim())).toBeGreaterThan(0);
      const cli = await run(["podman", "run", "--rm", "--network", "none", APP_IMAGE, "facegate", "--help"]);
      expect(cli.stdout).toContain("usage: bun run facegate <command>");
      // a role that cannot work says so and exits 2 (a bad setting), not a crash
      const gateway = await run(["podman", "run", "--rm", "--network", "none", APP_IMAGE, "gateway"], { allowFail: true });
      expect(gateway.code).toBe(2);
      expect(gateway.stderr).toContain("needs NATS_URL");
    }, 2 * MINUTES);

    describe("deploy/compose.embedded.yaml", () => {
      let project: ComposeProject;
      let ticker: { stop(): Promise<void> };
      let url = "";
      const people = () => lfwPeople(4);

      beforeAll(async () => {
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        project = new ComposeProject(`${ROOT}/deploy/compose.embedded.yaml`, `fgembedded${suffix}`, service, { FACEGATE_PORT: String(port) }, SETTINGS);
        ticker = startHealthTicker(project.project);
        await project.compose("up", "-d");
        await waitFor("the embedded server's health", 2 * MINUTES, () => healthy(url));
      }, 4 * MINUTES);

      afterAll(async () => {
        await ticker?.stop();
        await project?.destroy();
      }, 2 * MINUTES);

      test("enrolls and recognizes real photos", async () => {
        const client = new HttpFaceClient({ url, key: KEY });
        await client.createCompany({ companyId: COMPANY });
        for (const p of people()) await client.createUser({ companyId: COMPANY, userId: p.name, faceId: "f1", image: p.enroll });
        for (const p of people()) expect((await client.recognizeFace({ companyId: COMPANY, image: p.probe })).userId).toBe(p.name);
        const [c] = await project.containers("facegate");
        await waitFor("the container's health check to pass", MINUTES, async () => (await project.containers("facegate"))[0]?.health === "healthy");
        expect(c.state).toBe("running");
      }, 2 * MINUTES);

      test("SIGTERM drains: an in-flight request is answered, the server exits 0; the gallery survives in its volume", async () => {
        const [c] = await project.containers("facegate");
        const img = Buffer.from(people()[0].probe).toString("base64");
        const pairs = Array.from({ length: 8 }, () => ({ image1: img, image2: img }));
        const inflight = fetch(`${url}/v1/verify/batch`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-API-Key": KEY },
          body: JSON.stringify({ pairs }),
        });
        await Bun.sleep(150);
        await run(["podman", "stop", "--time", "20", c.id]);
        const res = await inflight;
        expect(res.status).toBe(200);
        expect(((await res.json()) as { results: unknown[] }).results).toHaveLength(8);
        const exit = await run(["podman", "inspect", "--format", "{{.State.ExitCode}}", c.id]);
        expect(exit.stdout.trim()).toBe("0");
        const logs = await run(["podman", "logs", c.id]);
        expect(logs.stdout).toContain('"msg":"stopped"');
        // the same container again: the SQLite gallery is in the named volume
        await project.compose("up", "-d");
        await waitFor("the embedded server's health after the restart", 2 * MINUTES, () => healthy(url));
        const client = new HttpFaceClient({ url, key: KEY });
        for (const p of people()) expect((await client.recognizeFace({ companyId: COMPANY, image: p.probe })).userId).toBe(p.name);
      }, 4 * MINUTES);
    });

    describe("deploy/compose.yaml: 3-node NATS cluster, gateway, scaled workers", () => {
      let project: ComposeProject;
      let ticker: { stop(): Promise<void> };
      let url = "";
      let client: HttpFaceClient;
      const enrolled = () => lfwPeople(4);

      /** The workers answering the gateway's health (the wire's store.workers). */
      const workerIds = async (): Promise<string[]> => {
        const res = await fetch(`${url}/v1/health`, { headers: { "X-API-Key": KEY } });
        const health = (await res.json()) as { store?: { workers?: Array<{ worker_id: string; status: string }> } };
        return (health.store?.workers ?? []).filter((w) => w.status === "ok").map((w) => w.worker_id).sort();
      };

      beforeAll(async () => {
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        client = new HttpFaceClient({ url, key: KEY });
        project = new ComposeProject(`${ROOT}/deploy/compose.yaml`, `fgcluster${suffix}`, service, { FACEGATE_PORT: String(port) }, SETTINGS);
        ticker = startHealthTicker(project.project);
        // health-gated: compose starts the workers once the NATS nodes are healthy, the gateway once the workers are
        await project.compose("up", "-d", "--scale", "worker=2");
        await waitFor("the gateway's health", 2 * MINUTES, () => healthy(url));
      }, 6 * MINUTES);

      afterAll(async () => {
        await ticker?.stop();
        await project?.destroy();
      }, 2 * MINUTES);

      test("comes up health-gated with 2 workers; every stream (gallery, events, webhooks) has 3 replicas", async () => {
        const all = await project.containers();
        expect(all.map((c) => c.service).sort()).toEqual(["gateway", "nats-1", "nats-2", "nats-3", "worker", "worker"]);
        for (const c of all.filter((c) => c.service !== "gateway")) expect(c.health).toBe("healthy");
        const workers = await project.containers("worker");
        await waitFor("2 workers in the gateway's health", MINUTES, async () => (await workerIds()).length === 2);
        // each worker's id is its container's host name: no per-replica settings
        expect(await workerIds()).toEqual(workers.map((w) => w.id.slice(0, 12)).sort());
        // every stream (the gallery's KV bucket, the gateway's events) on 3 peers, asked from inside a worker
        const info = await run([
          "podman", "exec", workers[0].id, "bun", "-e",
          `const { connect } = await import("@nats-io/transport-node");
           const nc = await connect({ servers: process.env.NATS_URL.split(",") });
           const ask = async (s, body = "") => JSON.parse(new TextDecoder().decode((await nc.request(s, body, { timeout: 5000 })).data));
           const out = {};
           for (const name of (await ask("$JS.API.STREAM.NAMES")).streams) {
             const s = await ask("$JS.API.STREAM.INFO." + name);
             out[name] = { replicas: s.config.num_replicas, peers: 1 + (s.cluster.replicas ?? []).length };
           }
           console.log(JSON.stringify(out));
           await nc.close();`,
        ]);
        const streams = JSON.parse(info.stdout.trim()) as Record<string, { replicas: number; peers: number }>;
        expect(Object.keys(streams)).toContain("KV_facegate");
        expect(Object.keys(streams).length).toBeGreaterThanOrEqual(2);
        // the gallery, the event log and the webhooks bucket: none on one node only
        for (const [name, s] of Object.entries(streams)) expect({ name, ...s }).toEqual({ name, replicas: 3, peers: 3 });
      }, 2 * MINUTES);

      test("enrolls and recognizes real photos through the gateway", async () => {
        await client.createCompany({ companyId: COMPANY });
        for (const p of enrolled()) await client.createUser({ companyId: COMPANY, userId: p.name, faceId: "f1", image: p.enroll });
        for (const p of enrolled()) expect((await client.recognizeFace({ companyId: COMPANY, image: p.probe })).userId).toBe(p.name);
      }, 2 * MINUTES);

      test("a SIGKILLed worker container: recognition goes on, no acknowledged write is lost", async () => {
        const [victim] = await project.containers("worker");
        const writers = lfwPeople(12, 4);
        const acknowledged: string[] = [];
        const refused: string[] = [];
        let recognized = 0;
        let afterKill = 0;
        let killed = false;
        let writing = true;
        // recognitions all along: every one must be answered, and rightly
        const recognizing = (async () => {
          while (writing || afterKill < 10) {
            const p = enrolled()[recognized % enrolled().length];
            const r = await client.recognizeFace({ companyId: COMPANY, image: p.probe });
            expect(r.userId).toBe(p.name);
            recognized++;
            if (killed) afterKill++;
          }
        })();
        for (const [i, p] of writers.entries()) {
          if (i === 3) {
            await run(["podman", "kill", "--signal", "KILL", victim.id]);
            killed = true;
          }
          try {
            await client.createUser({ companyId: COMPANY, userId: p.name, faceId: "f1", image: p.enroll });
            acknowledged.push(p.name);
          } catch (error) {
            // an unknown outcome (the worker died holding it) is not an acknowledged write
            if (!(error instanceof FaceError)) throw error;
            refused.push(`${p.name}: ${error.code}`);
          }
        }
        writing = false;
        await recognizing;
        expect(acknowledged.length).toBeGreaterThanOrEqual(writers.length - 2);
        const listed = (await client.listUsers({ companyId: COMPANY, limit: 1000 })).users.map((u) => u.userId);
        for (const name of acknowledged) expect(listed).toContain(name);
        // and each has its face: its own enrollment photo is recognized as that person
        for (const p of writers.filter((w) => acknowledged.includes(w.name))) {
          expect((await client.recognizeFace({ companyId: COMPANY, image: p.enroll })).userId).toBe(p.name);
        }
        console.log(`worker kill: ${acknowledged.length}/${writers.length} writes acknowledged (${refused.join(", ") || "none refused"}), ${recognized} recognitions (${afterKill} after the kill)`);
      }, 4 * MINUTES);

      test("--scale worker=3 adds a worker without editing anything", async () => {
        await project.compose("up", "-d", "--scale", "worker=3");
        await waitFor("3 workers in the gateway's health", 3 * MINUTES, async () => (await workerIds()).length === 3);
        const workers = await project.containers("worker");
        expect(workers).toHaveLength(3);
        await waitFor("3 healthy worker containers", MINUTES, async () => (await project.containers("worker")).every((w) => w.health === "healthy"));
        for (const p of enrolled()) expect((await client.recognizeFace({ companyId: COMPANY, image: p.probe })).userId).toBe(p.name);
      }, 6 * MINUTES);

      test("down -v removes every container and volume", async () => {
        expect((await project.volumes()).length).toBe(3);
        // the image's VOLUME gives each facegate container an anonymous volume too: those go as well
        const anonymous = await project.anonymousVolumes();
        expect(anonymous.length).toBeGreaterThanOrEqual(4);
        await project.compose("down", "-v", "--timeout", "20");
        expect(await project.containers()).toEqual([]);
        expect(await project.volumes()).toEqual([]);
        for (const v of anonymous) expect((await run(["podman", "volume", "exists", v], { allowFail: true })).code).toBe(1);
      }, 2 * MINUTES);
    });
  },
  describeDatasets,
);
