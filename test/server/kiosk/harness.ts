/**
 * The real stack for kiosk tests: LocalFaceService (ONNX engine, in-memory store) behind the real
 * HTTP server (startServer) with the kiosk plugin, on a free port; plus a small WebSocket client
 * that queues messages so tests can await them in order.
 */
import { readFileSync } from "node:fs";
import { upgradeWebSocket } from "hono/bun";
import { LocalEventSink, type EventSink, type FaceApi, type IdentifiedEvent, type UnknownEvent } from "../../../lib/core/mod.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import type { ApiKeysMap, ServerConfig } from "../../../server/config/server.ts";
import { kioskPlugin, kioskWebSocketOptions, loadKioskConfig, type KioskConfigInput, type KioskPlugin, type ServerMessage } from "../../../server/kiosk/mod.ts";
import { startServer, type RunningServer } from "../../../server/http/serve.ts";
import { pagesPlugin } from "../../../server/http/pages.ts";
import { ensurePagesBuilt } from "../../../scripts/build-pages.ts";
import { dataset, listDataset } from "../../helpers/datasets.ts";

export const ADMIN_KEY = "admin-key-0123456789";
export const HAM_KEY = "ham-key-0123456789";
export const OTHER_KEY = "other-key-0123456789";
export const STAGE_KEY = "stage-key-0123456789";
/** Only the recognize scope on "ham": what a kiosk is given. */
export const KIOSK_KEY = "kiosk-key-0123456789";
export const TEST_KEYS: ApiKeysMap = {
  [ADMIN_KEY]: ["*"],
  [HAM_KEY]: ["ham"],
  [OTHER_KEY]: ["other"],
  [STAGE_KEY]: ["stage", "stage-enroll"],
  [KIOSK_KEY]: { companies: ["ham"], scopes: ["recognize"] },
};
export const PERFORMER = "Lin-Manuel Miranda";

let shared: Promise<LocalFaceService> | null = null;

/** One service per test file (the engine takes a while to load); the performer enrolled in "ham". */
export function sharedService(): Promise<LocalFaceService> {
  shared ??= (async () => {
    // the kiosk's decision tests are written against a fixed threshold (the first release's 0.40: the
    // Hamilton clip's frame 19 is below it), not the operating point a one-person company would derive
    const service = await LocalFaceService.create({ config: { store: "memory", recognitionThreshold: 0.4 }, env: {}, log: () => {} });
    await service.createCompany({ companyId: "ham" });
    await service.createCompany({ companyId: "other" });
    await service.createUser({
      companyId: "ham",
      userId: PERFORMER,
      faceId: "portrait",
      image: new Uint8Array(readFileSync(dataset("labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png"))),
    });
    return service;
  })();
  return shared;
}

export interface KioskStack {
  service: LocalFaceService;
  /** What the server talks to: the service itself, or a FaceClient in NATS mode. */
  api: FaceApi;
  server: RunningServer;
  kiosk: KioskPlugin;
  events: LocalEventSink;
  /** Events received by the sink, in order. */
  published: IdentifiedEvent[];
  /** Stranger events (`unknown`) received by the sink, in order. */
  strangers: UnknownEvent[];
  url: string;
  wsUrl(query: Record<string, string>): string;
  stop(): Promise<void>;
}

export async function startKioskStack(
  opts: { kiosk?: Partial<KioskConfigInput>; apiKeys?: ApiKeysMap; api?: FaceApi; sink?: EventSink; server?: Partial<ServerConfig> } = {},
): Promise<KioskStack> {
  const service = await sharedService();
  // The server serves built pages only; build them when missing or stale (as `bun run start` does).
  await ensurePagesBuilt();
  const api = opts.api ?? service;
  const events = new LocalEventSink();
  const published: IdentifiedEvent[] = [];
  const strangers: UnknownEvent[] = [];
  events.subscribe((e) => (e.type === "identified" ? published.push(e) : strangers.push(e)));
  const config = loadKioskConfig({}, opts.kiosk ?? {});
  const kiosk = kioskPlugin({ upgradeWebSocket, events: opts.sink ?? events, config });
  const apiKeys = opts.apiKeys ?? TEST_KEYS;
  const server = startServer({
    api,
    config: {
      port: 0,
      host: "127.0.0.1",
      apiKeys,
      authMode: Object.keys(apiKeys).length ? "keys" : "open",
      logLevel: "silent",
      rateLimitPerMinute: 0,
      ...opts.server,
    },
    plugins: [kiosk, pagesPlugin()],
    websocketOptions: kioskWebSocketOptions(config),
  });
  const url = server.url;
  return {
    service,
    api,
    server,
    kiosk,
    events,
    published,
    strangers,
    url,
    wsUrl(query) {
      const u = new URL("/v1/kiosk/ws", url.replace(/^http/, "ws"));
      for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
      return u.toString();
    },
    async stop() {
      kiosk.closeAll();
      await server.stop(0);
    },
  };
}

/** Hamilton clip frames at 5 fps (640x360 JPEG): 19-39 show the performer, 40-50 the audience. */
export function hamiltonFrame(n: number): Uint8Array<ArrayBuffer> {
  const name = `frame_${String(n).padStart(4, "0")}.jpg`;
  return new Uint8Array(readFileSync(dataset("video/frames_hamilton", name)));
}
export const HAMILTON_FRAMES = (): string[] => listDataset("video/frames_hamilton");

export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket client that queues every server message; `next` awaits them in order. */
export class TestClient {
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private cursor = 0;
  private waiters: (() => void)[] = [];

  /** `init`: headers (X-API-Key) and subprotocols (Bun's WebSocket client takes both). */
  constructor(url: string, init?: { headers?: Record<string, string>; protocols?: string[] }) {
    this.ws = init ? new WebSocket(url, init as unknown as string[]) : new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error("websocket error before open")), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (e) => {
        resolve({ code: e.code, reason: e.reason });
        this.wake();
      });
    });
    this.ws.addEventListener("message", (e) => {
      if (typeof e.data === "string") this.messages.push(JSON.parse(e.data) as ServerMessage);
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next message (in order) matching `type`, skipping others; rejects on timeout or close. */
  async next<T extends ServerMessage["type"]>(type: T, timeoutMs = 20_000): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.messages.length) {
        const m = this.messages[this.cursor++];
        if (m.type === type) return m as Extract<ServerMessage, { type: T }>;
      }
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}; got ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  sendJson(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  sendFrame(bytes: Uint8Array<ArrayBuffer>): void {
    this.ws.send(bytes);
  }

  of<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a client and waits for `ready`. */
export async function readyClient(url: string): Promise<TestClient> {
  const client = new TestClient(url);
  await client.next("ready");
  return client;
}
