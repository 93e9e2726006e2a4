/** Server configuration (every variable, every bad value) and `bun run start` as a process: exit 2, .env, graceful stop. */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { availableCores, ConfigError, DEFAULT_SERVER_CONFIG, defaultMaxInflight, loadServerConfig, parseBytes } from "../../../server/config/server.ts";
import { ROOT } from "../../helpers/datasets.ts";

setDefaultTimeout(60_000); // each start loads the models in a fresh process

const tmp = mkdtempSync(join(tmpdir(), "facegate-config-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function problems(env: Record<string, string>): string[] {
  try {
    loadServerConfig(env, { readFile: (p) => require("node:fs").readFileSync(p, "utf8") });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe("loadServerConfig", () => {
  test("defaults: open mode on 127.0.0.1:8080, 10 MB bodies", () => {
    const c = loadServerConfig({});
    expect(c).toMatchObject({ port: 8080, host: "127.0.0.1", authMode: "open", maxBodyBytes: 10 * 1024 * 1024, logLevel: "info" });
    expect(c.natsUrl).toBeUndefined();
    expect(c).toEqual({ ...DEFAULT_SERVER_CONFIG, natsUrl: undefined });
  });
  test("keys: admin and company scopes; binds to 0.0.0.0 unless HOST says otherwise", () => {
    const c = loadServerConfig({ API_KEYS: '{"admin-key-0001": ["*"], "acme-key-0001": ["acme", "beta"]}' });
    expect(c.authMode).toBe("keys");
    expect(c.host).toBe("0.0.0.0");
    expect(c.apiKeys["acme-key-0001"]).toEqual(["acme", "beta"]);
    expect(loadServerConfig({ API_KEYS: '{"admin-key-0001": ["*"]}', HOST: "10.0.0.5" }).host).toBe("10.0.0.5");
  });
  test("keys by operation: {companies, scopes} next to the original lists", () => {
    const c = loadServerConfig({
      API_KEYS: JSON.stringify({
        "admin-key-0001": ["*"],
        "acme-key-0001": ["acme"],
        "kiosk-key-0001": { companies: ["acme"], scopes: ["recognize"] },
        "ops-key-0001": { companies: ["*"], scopes: ["manage"] },
      }),
    });
    expect(c.apiKeys["kiosk-key-0001"]).toEqual({ companies: ["acme"], scopes: ["recognize"] });
    expect(problems({ API_KEYS: '{"kiosk-key-0001": {"companies": ["acme"], "scopes": ["read"]}}' })[0]).toMatch(/^API_KEYS: key #1/);
    expect(problems({ API_KEYS: '{"kiosk-key-0001": {"companies": [], "scopes": ["recognize"]}}' })[0]).toMatch(/^API_KEYS: key #1/);
    expect(problems({ API_KEYS: '{"kiosk-key-0001": {"companies": ["acme"]}}' })[0]).toMatch(/^API_KEYS: key #1/);
    expect(problems({ API_KEYS: '{"kiosk-key-0001": {"companies": ["acme"], "scopes": ["recognize"], "extra": 1}}' })[0]).toMatch(/^API_KEYS: key #1/);
    expect(problems({ API_KEYS: '{"kiosk-key-0001": {"companies": ["acme"], "scopes": ["read"]}}' })[0]).not.toContain("kiosk-key-0001");
  });
  test("security settings: burst, body budget, failed-key back-off, threshold floor, allowed hosts", () => {
    const d = loadServerConfig({});
    expect(d).toMatchObject({ rateLimitBurst: 240, bodyBudgetBytes: 64 * 1024 * 1024, authFailLimit: 30, thresholdFloor: 0.3, allowedHosts: [] });
    expect(loadServerConfig({ MAX_BODY_BYTES: "100mb" }).bodyBudgetBytes).toBe(400 * 1024 * 1024);
    const c = loadServerConfig({ RATE_LIMIT_BURST: "20", BODY_BUDGET_BYTES: "32mb", AUTH_FAIL_LIMIT: "0", THRESHOLD_FLOOR: "0.45", ALLOWED_HOSTS: "kiosk.example.com, *.corp.example:8080" });
    expect(c).toMatchObject({ rateLimitBurst: 20, bodyBudgetBytes: 32 * 1024 * 1024, authFailLimit: 0, thresholdFloor: 0.45, allowedHosts: ["kiosk.example.com", "*.corp.example:8080"] });
    expect(problems({ RATE_LIMIT_BURST: "0" })[0]).toMatch(/^RATE_LIMIT_BURST/);
    expect(problems({ THRESHOLD_FLOOR: "2" })[0]).toMatch(/^THRESHOLD_FLOOR/);
    expect(problems({ ALLOWED_HOSTS: "http://x.example" })[0]).toMatch(/^ALLOWED_HOSTS/);
    expect(problems({ BODY_BUDGET_BYTES: "1mb" })[0]).toMatch(/^BODY_BUDGET_BYTES .* below MAX_BODY_BYTES/);
  });
  test("API_KEYS_FILE", () => {
    const file = join(tmp, "keys.json");
    writeFileSync(file, '{"file-key-0001": ["*"]}');
    const c = loadServerConfig({ API_KEYS_FILE: file }, { readFile: (p) => require("node:fs").readFileSync(p, "utf8") });
    expect(Object.keys(c.apiKeys)).toEqual(["file-key-0001"]);
    expect(problems({ API_KEYS_FILE: join(tmp, "missing.json") })[0]).toMatch(/^API_KEYS_FILE=.*cannot read/);
  });
  test("every other variable", () => {
    const c = loadServerConfig({
      PORT: "9000",
      HOST: "::1",
      MAX_BODY_BYTES: "2mb",
      RATE_LIMIT_PER_MINUTE: "0",
      CORS_ORIGINS: "https://a.example.com, http://localhost:3000",
      REQUEST_TIMEOUT_MS: "1500",
      LOG_LEVEL: "WARN",
      NATS_URL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222",
      MAX_BATCH_PAIRS: "4",
      MAX_INFLIGHT: "3",
      MAX_QUEUE: "0",
    });
    expect(c).toMatchObject({
      port: 9000,
      host: "::1",
      maxBodyBytes: 2 * 1024 * 1024,
      rateLimitPerMinute: 0,
      corsOrigins: ["https://a.example.com", "http://localhost:3000"],
      requestTimeoutMs: 1500,
      logLevel: "warn",
      natsUrl: "nats://127.0.0.1:4222,nats://10.0.0.2:4222",
      maxBatchPairs: 4,
      maxInflight: 3,
      maxQueue: 0,
    });
    expect(loadServerConfig({ AUTH_MODE: "open" }).authMode).toBe("open");
    expect(loadServerConfig({ CORS_ORIGINS: "*" }).corsOrigins).toEqual(["*"]);
  });
  test("each bad value is reported, naming its variable", () => {
    const p = problems({
      PORT: "80a",
      MAX_BODY_BYTES: "lots",
      RATE_LIMIT_PER_MINUTE: "-1",
      REQUEST_TIMEOUT_MS: "1.5",
      LOG_LEVEL: "loud",
      CORS_ORIGINS: "example.com",
      NATS_URL: "http://x y",
      AUTH_MODE: "maybe",
      API_KEYS: "{not json",
      MAX_BATCH_PAIRS: "0",
      MAX_INFLIGHT: "many",
      MAX_QUEUE: "-1",
    });
    for (const name of ["PORT", "MAX_BODY_BYTES", "RATE_LIMIT_PER_MINUTE", "REQUEST_TIMEOUT_MS", "LOG_LEVEL", "CORS_ORIGINS", "NATS_URL", "AUTH_MODE", "API_KEYS", "MAX_BATCH_PAIRS", "MAX_INFLIGHT", "MAX_QUEUE"]) {
      expect(p.some((line) => line.startsWith(name))).toBe(true);
    }
    expect(p).toHaveLength(12);
    expect(p).toContain('MAX_INFLIGHT="many": expected an integer from 0 to 100000');
  });
  test("admission defaults: one per core embedded, 64 in gateway mode; 0 turns it off", () => {
    expect(DEFAULT_SERVER_CONFIG.maxInflight).toBe(availableCores());
    expect(defaultMaxInflight(8)).toBe(8);
    expect(loadServerConfig({}).maxQueue).toBe(32);
    expect(loadServerConfig({ NATS_URL: "nats://127.0.0.1:4222" }).maxInflight).toBe(64);
    expect(loadServerConfig({ NATS_URL: "nats://127.0.0.1:4222", MAX_INFLIGHT: "8" }).maxInflight).toBe(8);
    expect(loadServerConfig({ MAX_INFLIGHT: "0" }).maxInflight).toBe(0);
    expect(problems({ MAX_INFLIGHT: "0", MAX_QUEUE: "10" })).toEqual([
      "MAX_QUEUE is set but MAX_INFLIGHT=0 turns admission control off: unset one of them",
    ]);
  });
  test("inconsistent auth settings are refused", () => {
    expect(problems({ AUTH_MODE: "keys" })[0]).toMatch(/AUTH_MODE=keys but no API_KEYS/);
    expect(problems({ AUTH_MODE: "open", API_KEYS: '{"admin-key-0001": ["*"]}' })[0]).toMatch(/AUTH_MODE=open but API keys/);
    expect(problems({ API_KEYS: '{"a": ["*"]}', API_KEYS_FILE: "/x" })[0]).toMatch(/both set/);
    expect(problems({ API_KEYS: '{"short": ["*"]}' })[0]).toMatch(/key #1: API keys must be 8 to 512 characters/);
    const empty = problems({ API_KEYS: '{"admin-key-0001": ["*"], "other-key-0001": []}' })[0];
    expect(empty).toMatch(/key #2.*at least one company/);
    expect(empty).not.toContain("other-key-0001"); // keys never appear in messages
    expect(problems({ API_KEYS: '["admin-key-0001"]' })[0]).toMatch(/^API_KEYS:/);
  });
  test("parseBytes", () => {
    expect(parseBytes("1024")).toBe(1024);
    expect(parseBytes("10mb")).toBe(10 * 1024 * 1024);
    expect(parseBytes("512 KB")).toBe(512 * 1024);
    expect(parseBytes("1.5MiB")).toBe(1.5 * 1024 * 1024);
    expect(parseBytes("ten")).toBeUndefined();
  });
});

/** Runs `bun server/main.ts` with only the given environment (plus PATH/HOME). */
function start(env: Record<string, string>, cwd = tmp) {
  return Bun.spawn(["bun", join(ROOT, "server/main.ts")], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function readLines(stream: ReadableStream<Uint8Array>, until: (line: string) => boolean, ms = 30_000): Promise<string[]> {
  const lines: string[] = [];
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value);
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      lines.push(line);
      if (until(line)) {
        reader.releaseLock();
        return lines;
      }
    }
  }
  reader.releaseLock();
  return lines;
}

describe("bun run start (server/main.ts)", () => {
  test("a bad setting exits 2 naming every bad variable (server, service and engine)", async () => {
    const p = start({ PORT: "eighty", LOG_LEVEL: "loud", FACE_RECOGNITION_THRESHOLD: "high", MAX_QUEUE: "lots" });
    const code = await p.exited;
    const stderr = await new Response(p.stderr).text();
    expect(code).toBe(2);
    expect(stderr).toContain("PORT=");
    expect(stderr).toContain('MAX_QUEUE="lots"');
    expect(stderr).toContain("LOG_LEVEL=");
    expect(stderr).toContain("FACE_RECOGNITION_THRESHOLD");
  });

  test(".env in the working directory is read (Bun loads it before any code runs)", async () => {
    const dir = join(tmp, "dotenv");
    require("node:fs").mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".env"), "PORT=not-a-port\n");
    const p = start({}, dir);
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain('PORT="not-a-port"');
  });

  test("starts (open mode, loudly), serves, and stops gracefully on SIGTERM", async () => {
    const dataDir = join(tmp, "data");
    const p = start({ PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "info" });
    try {
      const lines = await readLines(p.stdout, (l) => l.includes('"msg":"ready"'));
      const logs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logs.some((l) => l.level === "warn" && String(l.msg).startsWith("OPEN MODE"))).toBe(true);
      const listening = logs.find((l) => l.msg === "listening");
      expect(listening?.host).toBe("127.0.0.1");
      const url = String(listening?.url);
      const health = await fetch(`${url}/v1/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { store: { kind: string } }).store.kind).toBe("sqlite");
      const created = await fetch(`${url}/v1/companies`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"company_id":"acme"}' });
      expect(created.status).toBe(201);
      // an in-flight request finishes while the server drains
      const img = Buffer.from(require("node:fs").readFileSync(join(ROOT, "node_modules/@vladmandic/face-api/demo/sample1.jpg"))).toString("base64");
      const inflight = fetch(`${url}/v1/verify/batch`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ pairs: [{ image1: img, image2: img }, { image1: img, image2: img }] }),
      });
      await Bun.sleep(30);
      p.kill("SIGTERM");
      const drained = await inflight;
      expect(drained.status).toBe(200);
      expect(((await drained.json()) as { results: unknown[] }).results).toHaveLength(2);
      const rest = await readLines(p.stdout, (l) => l.includes('"msg":"stopped"'));
      expect(await p.exited).toBe(0);
      expect(rest.some((l) => l.includes('"msg":"shutting down"') && l.includes("SIGTERM"))).toBe(true);
      expect(rest.at(-1)).toContain('"msg":"stopped"');
      // durable: the SQLite store in DATA_DIR kept the write
      expect(require("node:fs").existsSync(join(dataDir, "facegate.db"))).toBe(true);
    } finally {
      p.kill();
    }
  });

  test("with keys: no open-mode warning, 401 without a key", async () => {
    const p = start({ PORT: "0", HOST: "127.0.0.1", STORE: "memory", API_KEYS: '{"admin-key-0001": ["*"]}' });
    try {
      const lines = await readLines(p.stdout, (l) => l.includes('"msg":"ready"'));
      expect(lines.some((l) => l.includes("OPEN MODE"))).toBe(false);
      const url = String((lines.map((l) => JSON.parse(l)).find((l) => l.msg === "listening") as { url: string }).url);
      expect((await fetch(`${url}/v1/stats`)).status).toBe(401);
      expect((await fetch(`${url}/v1/stats`, { headers: { "X-API-Key": "admin-key-0001" } })).status).toBe(200);
    } finally {
      p.kill("SIGINT");
      expect(await p.exited).toBe(0);
    }
  });
});
