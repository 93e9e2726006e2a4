/**
 * Server-sent events over fetch (EventSource cannot send the X-API-Key header, and a key in the
 * URL would land in logs). Reconnects with Last-Event-ID, so events missed while away come first.
 */
import type { Api } from "./api.ts";

export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

export interface SseOptions {
  onMessage(message: SseMessage): void;
  /** "connecting", "live", or an error sentence while waiting to reconnect. */
  onStatus(status: "connecting" | "live" | { error: unknown; retryMs: number }): void;
  signal: AbortSignal;
  /** Start after this event (the newest one already shown). */
  lastEventId?: string;
}

/** Parses the text/event-stream format (lines, `field: value`, blank line ends a message). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  /** The last line ended with CR: an LF starting the next chunk belongs to it (CRLF split across chunks). */
  private afterCR = false;
  id = "";
  retryMs: number | null = null;

  push(chunk: string, emit: (m: SseMessage) => void): void {
    this.buffer += chunk;
    if (this.afterCR && this.buffer.startsWith("\n")) this.buffer = this.buffer.slice(1);
    this.afterCR = false;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const crlf = this.buffer.startsWith("\r\n", nl);
      // A CR that ends the chunk may be the first half of a CRLF.
      this.afterCR = !crlf && this.buffer[nl] === "\r" && nl === this.buffer.length - 1;
      this.buffer = this.buffer.slice(nl + (crlf ? 2 : 1));
      if (line === "") {
        if (this.data.length > 0) emit({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
        this.data = [];
        this.event = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id" && !value.includes("\0")) this.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
  }
}

/** Follows `path` until the signal aborts; resolves then. */
export async function follow(api: Api, path: string, options: SseOptions): Promise<void> {
  const parser = new SseParser();
  if (options.lastEventId) parser.id = options.lastEventId;
  let backoff = 1000;
  while (!options.signal.aborted) {
    options.onStatus("connecting");
    try {
      const res = await api.fetch("GET", path, {
        accept: "text/event-stream",
        signal: options.signal,
        query: parser.id ? { last_event_id: parser.id } : undefined,
      });
      if (!res.body) throw new Error("the answer has no body");
      options.onStatus("live");
      backoff = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value, options.onMessage);
      }
      throw new Error("the server closed the feed");
    } catch (error) {
      if (options.signal.aborted) return;
      // A missing route or a refused key will not heal by retrying quickly.
      const status = (error as { status?: number }).status ?? 0;
      const retryMs = status === 404 || status === 401 || status === 403 ? 30_000 : (parser.retryMs ?? backoff);
      options.onStatus({ error, retryMs });
      backoff = Math.min(backoff * 2, 15_000);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        options.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
  }
}
