/**
 * Real containers for the deploy tests: the images (test base from debootstrap, facegate's
 * Containerfile, a NATS image from Debian's nats-server), podman's Docker-compatible API on a
 * private socket for docker-compose, and a health ticker.
 *
 * Podman settings come from deploy/test/containers.conf (runc; no default ulimits), through
 * CONTAINERS_CONF, so nothing on the host is edited. The ticker is deploy/podman-healthchecks.sh: podman
 * schedules health checks with systemd timers, and where PID 1 is not systemd (CI's machines) nothing
 * else would run them, so `condition: service_healthy` would wait forever. Where systemd runs them
 * too, the extra runs are harmless.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/datasets.ts";

export const CONTAINERS_CONF = join(ROOT, "deploy/test/containers.conf");
export const BASE_IMAGE = process.env.FACEGATE_BASE_IMAGE ?? "localhost/facegate-base:bookworm";
export const APP_IMAGE = "localhost/facegate:test";
export const NATS_IMAGE = "localhost/facegate-nats-test:test";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function podmanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, CONTAINERS_CONF, ...extra };
}

/** Runs a command to its end; throws with its output when it fails (unless `allowFail`). */
export async function run(
  cmd: string[],
  opts: { env?: Record<string, string>; cwd?: string; allowFail?: boolean; timeoutMs?: number } = {},
): Promise<Result> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: opts.env ?? podmanEnv(), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 600_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0 && !opts.allowFail) {
    throw new Error(`${cmd.join(" ")} exited ${code}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  }
  return { code, stdout, stderr };
}

/** The extra CA of a TLS-intercepting proxy, when this machine has one (passed as a build secret). */
function caSecret(): string[] {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  return ca ? ["--secret", `id=ca,src=${ca}`] : [];
}

/** Makes the base (cached by make-base.sh), then builds facegate's image and the NATS image (layers cached). */
export async function buildImages(): Promise<void> {
  await run(["bash", join(ROOT, "deploy/test/make-base.sh")]);
  const common = ["podman", "build", "--format", "docker", "--network", "host", "--build-arg", `BASE=${BASE_IMAGE}`];
  const before = await imageId(APP_IMAGE);
  await run([...common, ...caSecret(), "-t", APP_IMAGE, "-f", "Containerfile", "."]);
  // the previous build's image, now untagged, goes (its layers are this run's sources: CI runs add up)
  const after = await imageId(APP_IMAGE);
  if (before && before !== after) await run(["podman", "rmi", before], { allowFail: true });
  await run([...common, "-t", NATS_IMAGE, "-f", "deploy/test/nats.Containerfile", "deploy/test"]);
}

async function imageId(tag: string): Promise<string | undefined> {
  const r = await run(["podman", "image", "inspect", "--format", "{{.Id}}", tag], { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export interface PodmanService {
  /** unix:///... for DOCKER_HOST */
  dockerHost: string;
  dir: string;
  stop(): Promise<void>;
}

/** `podman system service` on a socket of our own (docker-compose speaks the Docker API to it). */
export async function startPodmanService(): Promise<PodmanService> {
  const dir = mkdtempSync(join(tmpdir(), "facegate-podman-"));
  const socket = join(dir, "podman.sock");
  const proc = Bun.spawn(["podman", "system", "service", "--time=0", `unix://${socket}`], {
    env: podmanEnv(),
    stdout: "ignore",
    stderr: "pipe",
  });
  const dockerHost = `unix://${socket}`;
  await waitFor("podman's API socket", 30_000, async () => {
    const res = await fetch("http://d/_ping", { unix: socket } as RequestInit).catch(() => undefined);
    return res?.ok === true;
  });
  return {
    dockerHost,
    dir,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** deploy/podman-healthchecks.sh for `project`, once a second (see the header: no systemd, no health checks). */
export function startHealthTicker(project: string): { stop(): Promise<void> } {
  const proc = Bun.spawn(["sh", join(ROOT, "deploy/podman-healthchecks.sh"), project, "1"], {
    env: podmanEnv(),
    stdout: "ignore",
    stderr: "inherit",
  });
  return {
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

export interface ContainerInfo {
  id: string;
  name: string;
  service: string;
  state: string;
  health: string;
}

/** One compose project (docker-compose over the podman service), its containers found by label. */
export class ComposeProject {
  readonly envFile: string;
  private readonly env: Record<string, string>;

  constructor(
    readonly file: string,
    readonly project: string,
    service: PodmanService,
    vars: Record<string, string>,
    settings: string,
  ) {
    this.envFile = join(service.dir, `${project}.env`);
    writeFileSync(this.envFile, settings);
    this.env = podmanEnv({
      DOCKER_HOST: service.dockerHost,
      FACEGATE_IMAGE: APP_IMAGE,
      NATS_IMAGE,
      FACEGATE_ENV_FILE: this.envFile,
      ...vars,
    });
  }

  compose(...args: string[]): Promise<Result> {
    return run(["docker-compose", "-p", this.project, "-f", this.file, ...args], { env: this.env });
  }

  async containers(service?: string): Promise<ContainerInfo[]> {
    const filters = ["--filter", `label=com.docker.compose.project=${this.project}`];
    if (service) filters.push("--filter", `label=com.docker.compose.service=${service}`);
    const ps = await run(["podman", "ps", "-a", ...filters, "--format", "json"]);
    const rows = JSON.parse(ps.stdout || "[]") as Array<{ Id: string; Names: string[]; State: string; Labels: Record<string, string> }>;
    const out: ContainerInfo[] = [];
    for (const r of rows) {
      const health = await run(["podman", "inspect", "--format", "{{.State.Health.Status}}", r.Id], { allowFail: true });
      out.push({ id: r.Id, name: r.Names[0], service: r.Labels["com.docker.compose.service"], state: r.State, health: health.stdout.trim() });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every volume of the project (compose labels them). */
  async volumes(): Promise<string[]> {
    const ls = await run(["podman", "volume", "ls", "-q", "--filter", `label=com.docker.compose.project=${this.project}`]);
    return ls.stdout.split("\n").filter(Boolean);
  }

  /** The unnamed volumes mounted in the project's containers (from the image's VOLUME). */
  async anonymousVolumes(): Promise<string[]> {
    const named = new Set(await this.volumes());
    const out: string[] = [];
    for (const c of await this.containers()) {
      const r = await run(["podman", "inspect", "--format", "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", c.id]);
      for (const v of r.stdout.split(/\s+/).filter(Boolean)) if (!named.has(v)) out.push(v);
    }
    return out;
  }

  /** down -v: containers, network and volumes; then removes whatever is left (a failed test's debris). */
  async destroy(): Promise<void> {
    await this.compose("down", "-v", "--timeout", "20").catch(() => undefined);
    for (const c of await this.containers().catch(() => [])) await run(["podman", "rm", "-f", c.id], { allowFail: true });
    for (const v of await this.volumes().catch(() => [])) await run(["podman", "volume", "rm", "-f", v], { allowFail: true });
  }
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(500);
  }
}
