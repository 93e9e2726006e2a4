/**
 * Test harness: the real server (Bun.serve on a free port) over the real LocalFaceService and
 * ONNX engine. One engine per test file is shared by its servers (loading models is the slow part).
 */
import { setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { faceApiSample } from "../helpers/datasets.ts";
import type { FaceApi } from "../../lib/core/mod.ts";
import { createEngine, type FaceEngine } from "../../lib/engine/mod.ts";
import { eventStoreFor, LocalFaceService, withMemoryIdempotency, type ServiceConfigInput } from "../../lib/service/mod.ts";
import { forgetDeletedCompanies, Integration, type IntegrationConfig } from "../../server/integration/mod.ts";
import type { DestinationPolicy } from "../../server/integration/webhooks/destinations.ts";
import type { ApiKeys } from "../../server/http/auth.ts";
import type { ServerConfig } from "../../server/config/server.ts";
import { createLogger, type Logger } from "../../server/observe/logger.ts";
import { startServer, type RunningServer } from "../../server/http/serve.ts";

// Engine-backed requests on a shared 2-core machine: more than bun's 5 s default per test.
setDefaultTimeout(60_000);

let enginePromise: Promise<FaceEngine> | undefined;
/** One engine per test file (never disposed before the process ends: services do not own it). */
export function sharedEngine(): Promise<FaceEngine> {
  enginePromise ??= createEngine({ ortThreads: 1 });
  return enginePromise;
}

export interface TestServerOptions {
  config?: Partial<ServerConfig>;
  service?: Partial<ServiceConfigInput>;
  /** SQLite in a temp dir (default: memory store). */
  sqlite?: boolean;
  keys?: ApiKeys;
  /** Wraps the real service (only where a behaviour cannot be produced otherwise). */
  wrap?: (api: FaceApi) => FaceApi;
  ready?: boolean;
  /** Event log and webhooks beside the store (SQLite or memory); settings override the defaults. */
  integration?: boolean | Partial<IntegrationConfig>;
  /** Where webhooks may POST (e.g. with a scripted resolver); default: from the integration settings. */
  destinations?: DestinationPolicy;
  /** The service's log lines (start-up, initial data); default: dropped. */
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

export interface TestServer {
  url: string;
  service: LocalFaceService;
  running: RunningServer;
  integration?: Integration;
  logs: Array<Record<string, unknown>>;
  call(method: string, path: string, init?: CallInit): Promise<Reply>;
  stop(): Promise<void>;
}

export interface CallInit {
  json?: unknown;
  body?: BodyInit;
  key?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint: test assertions read arbitrary fields
  body: any;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const engine = await sharedEngine();
  const dir = options.sqlite ? mkdtempSync(join(tmpdir(), "facegate-server-test-")) : undefined;
  const service = await LocalFaceService.create({
    engine,
    env: {},
    config: { store: dir ? "sqlite" : "memory", dataDir: dir ?? "./data", dataSource: "NONE", ...options.service },
    log: options.log ?? (() => {}),
  });
  const logs: Array<Record<string, unknown>> = [];
  const logger: Logger = createLogger("debug", (line) => logs.push(JSON.parse(line)));
  // As server/main.ts composes embedded mode: writes with an Idempotency-Key run once.
  const keyed = withMemoryIdempotency(service);
  const api = options.wrap ? options.wrap(keyed) : keyed;
  let integration: Integration | undefined;
  if (options.integration) {
    const events = eventStoreFor(service.store);
    integration = new Integration({
      log: events,
      outbox: events,
      // Test receivers listen on 127.0.0.1: allow it here (the SSRF tests turn it off again).
      config: { webhookAllowPrivate: true, ...(typeof options.integration === "object" ? options.integration : {}) },
      destinations: options.destinations,
      defaultThreshold: (companyId) => service.operatingPoint(companyId).threshold,
    });
    await forgetDeletedCompanies(service.store, integration);
  }
  const running = startServer({
    api,
    config: { port: 0, host: "127.0.0.1", rateLimitPerMinute: 0, ...options.config },
    keys: options.keys,
    logger,
    ready: options.ready,
    integration,
  });
  const url = running.url;
  return {
    url,
    service,
    running,
    integration,
    logs,
    call: (method, path, init = {}) => call(url, method, path, init),
    async stop() {
      integration?.endStreams();
      await running.stop(1000);
      await integration?.close();
      await service.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function call(url: string, method: string, path: string, init: CallInit = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key !== undefined) headers["X-API-Key"] = init.key;
  let body = init.body;
  if (init.json !== undefined && method !== "GET") {
    headers["Content-Type"] ??= "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(`${url}${path}`, { method, headers, body, signal: init.signal });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** A face-api demo photo (group photo, always available) as an ArrayBuffer-backed array (fetch-friendly). */
export function sample(n: 1 | 2 | 3 | 4 | 5 | 6): Uint8Array<ArrayBuffer> {
  return new Uint8Array(faceApiSample(n));
}

/** A plain gray JPEG: decodes fine, has no face. */
export async function blankJpeg(width = 320, height = 240): Promise<Uint8Array<ArrayBuffer>> {
  const buf = await sharp({ create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } } }).jpeg().toBuffer();
  return new Uint8Array(buf);
}

/** A tiny PNG whose header says it is wider than the engine's 12000-pixel side limit. */
export async function tooWidePng(): Promise<Uint8Array<ArrayBuffer>> {
  const buf = await sharp({ create: { width: 12_500, height: 4, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toBuffer();
  return new Uint8Array(buf);
}

/** A JSON body of exactly `bytes` bytes. */
export function paddedJson(bytes: number): string {
  const base = '{"image":""}';
  return `{"image":"${"A".repeat(Math.max(0, bytes - base.length))}"}`;
}

/** Sends raw bytes on a TCP connection and returns what came back before the server closed or `ms` passed. */
export async function rawHttp(url: string, payload: string | Uint8Array, ms = 1500): Promise<string> {
  const { hostname, port } = new URL(url);
  let received = "";
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_s, data) {
        received += new TextDecoder().decode(data);
      },
      close() {
        done();
      },
      error() {
        done();
      },
    },
  });
  socket.write(payload);
  const timer = setTimeout(() => {
    socket.end();
    done();
  }, ms);
  await finished;
  clearTimeout(timer);
  return received;
}

/** Field names with an upper-case letter, anywhere in `value` (the keys of `dataKeyed` fields are data). */
export function camelCaseKeys(value: unknown, dataKeyed: string[] = [], path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => camelCaseKeys(v, dataKeyed, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const here = path ? `${path}.${k}` : k;
    if (dataKeyed.includes(k)) return Object.values(v ?? {}).flatMap((x) => camelCaseKeys(x, dataKeyed, here));
    return [...(/[A-Z]/.test(k) ? [here] : []), ...camelCaseKeys(v, dataKeyed, here)];
  });
}
