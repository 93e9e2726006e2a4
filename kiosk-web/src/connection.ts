/**
 * The kiosk WebSocket with automatic reconnect (exponential backoff with jitter). Auth failures
 * (4400 bad request, 4401, 4403, 4404 no such company) stop reconnecting: retrying with the same key cannot succeed.
 */
import type { ServerMessage } from "../../server/kiosk/protocol.ts";

/** RFC 6455 subprotocol names are HTTP tokens. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export type ConnectionStatus =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "connected"; sessionId: string }
  | { kind: "reconnecting"; inMs: number; reason: string }
  | { kind: "failed"; reason: string };

export interface ConnectionOptions {
  company: string;
  key: string;
  kiosk: string;
  onStatus(status: ConnectionStatus): void;
  onMessage(message: ServerMessage): void;
  /** Sent right after `ready` on every (re)connection. */
  initialMessages?: () => object[];
}

/** Closes that retrying will not fix (see server/kiosk/protocol.ts). */
const FATAL_CLOSES = new Set([4400, 4401, 4403, 4404]);
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export class KioskConnection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private ready = false;
  private pingTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: ConnectionOptions) {}

  get isReady(): boolean {
    return this.ready && this.ws?.readyState === WebSocket.OPEN;
  }

  /** Bytes queued in the socket and not yet sent (the page skips frames while this grows). */
  get buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
    this.ready = false;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "page closed the session");
    this.opts.onStatus({ kind: "idle" });
  }

  send(data: ArrayBuffer | string): boolean {
    if (!this.isReady || !this.ws) return false;
    this.ws.send(data);
    return true;
  }

  private url(): string {
    const url = new URL("/v1/kiosk/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("company", this.opts.company);
    // The key goes in the subprotocol (kept out of URLs, which proxies and access logs record);
    // only a key with characters a subprotocol cannot carry falls back to the query.
    if (this.opts.key && !SUBPROTOCOL_TOKEN.test(this.opts.key)) url.searchParams.set("key", this.opts.key);
    if (this.opts.kiosk) url.searchParams.set("kiosk", this.opts.kiosk);
    return url.toString();
  }

  private open(): void {
    this.attempt++;
    this.opts.onStatus({ kind: "connecting", attempt: this.attempt });
    let ws: WebSocket;
    try {
      const key = this.opts.key;
      ws = key && SUBPROTOCOL_TOKEN.test(key) ? new WebSocket(this.url(), ["facegate.v1", `facegate.key.${key}`]) : new WebSocket(this.url());
    } catch (error) {
      this.opts.onStatus({ kind: "failed", reason: String(error) });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let lastError = "";
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message: ServerMessage;
      try {
        message = JSON.parse(event.data) as ServerMessage;
      } catch {
        return;
      }
      if (message.type === "ready" && !this.ready) {
        this.ready = true;
        this.attempt = 0;
        this.opts.onStatus({ kind: "connected", sessionId: message.sessionId });
        for (const m of this.opts.initialMessages?.() ?? []) ws.send(JSON.stringify(m));
        // Keeps the session alive when no face is in view (the server closes idle sessions).
        if (this.pingTimer) clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => {
          if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ping", t: Date.now() }));
        }, 10_000);
      }
      if (message.type === "error") lastError = `${message.code}: ${message.message}`;
      this.opts.onMessage(message);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (this.stopped) return;
      const reason = lastError || event.reason || `connection closed (${event.code})`;
      if (FATAL_CLOSES.has(event.code)) {
        this.opts.onStatus({ kind: "failed", reason });
        return;
      }
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt, 5));
      const inMs = Math.round(base / 2 + Math.random() * (base / 2));
      this.opts.onStatus({ kind: "reconnecting", inMs, reason });
      this.timer = setTimeout(() => this.open(), inMs);
    };
  }
}
