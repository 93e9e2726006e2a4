/**
 * Kiosk WebSocket inputs: frames (mutated images, random bytes, empty, oversized) and control
 * messages (broken JSON, wrong types, out-of-bounds settings, huge text, obsolete auth), over real
 * sessions; plus upgrades with bad parameters. After each message a ping must come back (no
 * hang); every server message must match the protocol schema with a non-INTERNAL code; every
 * frame must be answered (result or error with its seq) or counted as dropped.
 */
import { ERROR_CODES } from "../../lib/core/mod.ts";
import { CLOSE_CODES, ServerMessageSchema } from "../../server/kiosk/protocol.ts";
import { mutateImage, nastyString, pct, wrongValue, type BaseImages } from "./mutate.ts";
import type { Rng } from "./rng.ts";
import type { Outcome } from "./http.ts";

/** The protocol's close codes (all but 1011 internal), plus normal closure and what a client reports for a dropped connection. */
export const DOCUMENTED_CLOSES: ReadonlySet<number> = new Set([1000, 1005, 1006, ...Object.values(CLOSE_CODES).filter((c) => c !== CLOSE_CODES.internal)]);

export interface WsInput {
  label: string;
  data: string | Uint8Array<ArrayBuffer>;
}

export function wsInput(rng: Rng, base: BaseImages, maxFrameBytes: number): WsInput {
  const roll = rng.int(0, 13);
  if (roll <= 4) {
    const { kind, bytes } = mutateImage(rng, base);
    return { label: `frame-${kind}`, data: bytes };
  }
  if (roll === 5) return { label: "frame-random", data: rng.bytes(rng.int(0, 3000)) };
  if (roll === 6) {
    const big = new Uint8Array(maxFrameBytes + rng.int(1, 1000));
    big.set(base.jpeg);
    return { label: "frame-oversized", data: big };
  }
  const text = (() => {
    switch (roll) {
      case 7:
        return rng.pick(["{", "null", "[]", "\"ping\"", "", "{\"type\":null}", "{\"type\":\"ping\",\"t\":\"x\"}"]);
      case 8:
        return JSON.stringify({ type: "settings", [rng.pick(["confirmFrames", "windowFrames", "cooldownMs", "threshold", "maxFaces", "kioskId", "liveness", "other"])]: wrongValue(rng) });
      case 9:
        return JSON.stringify({ type: rng.pick(["auth", "settings", "ping", "frame", "__proto__", nastyString(rng).slice(0, 40)]), key: nastyString(rng).slice(0, 600) });
      case 10:
        return "x".repeat(rng.int(4000, 200_000));
      case 11:
        return JSON.stringify({ type: "settings", confirmFrames: rng.int(-5, 40), windowFrames: rng.int(-5, 40), threshold: rng.next() * 3 - 1 });
      case 12:
        return JSON.stringify(wrongValue(rng));
      default:
        return `{"type":"ping","t":${rng.pick(["1e999", "-0", "NaN", "123", "[]"])}}`;
    }
  })();
  return { label: `text-${roll}`, data: text };
}

/** One kiosk session driven message by message. */
export class FuzzSession {
  private ws!: WebSocket;
  private messages: unknown[] = [];
  private pongs = new Set<number>();
  framesSent = 0;
  private answeredSeqs = new Set<number>();
  closedWith: number | null = null;
  readonly problems: string[] = [];

  constructor(private readonly url: string) {}

  async open(timeoutMs: number): Promise<boolean> {
    this.ws = new WebSocket(this.url);
    this.ws.binaryType = "arraybuffer";
    this.ws.addEventListener("message", (e) => this.onMessage(e.data));
    this.ws.addEventListener("close", (e) => {
      this.closedWith = e.code;
      if (!DOCUMENTED_CLOSES.has(e.code)) this.problems.push(`close ${e.code} ${e.reason}`);
    });
    return this.waitFor(() => this.messages.some((m) => (m as { type?: string }).type === "ready") || this.closedWith !== null, timeoutMs);
  }

  private onMessage(data: unknown): void {
    if (typeof data !== "string") {
      this.problems.push("binary message from the server");
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.problems.push("non-JSON message");
      return;
    }
    const parsed = ServerMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.problems.push(`message outside the protocol: ${data.slice(0, 120)}`);
      return;
    }
    const m = parsed.data;
    this.messages.push(m);
    if (this.messages.length > 200) this.messages.splice(0, 100);
    if (m.type === "pong" && typeof m.t === "number") this.pongs.add(m.t);
    if (m.type === "error") {
      if (!(ERROR_CODES as readonly string[]).includes(m.code) || m.code === "INTERNAL") this.problems.push(`error code ${m.code}: ${m.message}`);
      if (m.seq !== undefined) this.answeredSeqs.add(m.seq);
    }
    if (m.type === "result") this.answeredSeqs.add(m.seq);
  }

  get open_(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one input, then a ping; the outcome once the pong is back. */
  async send(input: WsInput, n: number, timeoutMs: number): Promise<Outcome> {
    if (!this.open_) return "closed";
    const before = this.problems.length;
    try {
      this.ws.send(input.data);
      if (typeof input.data !== "string") this.framesSent++;
      this.ws.send(JSON.stringify({ type: "ping", t: n }));
    } catch {
      return "closed";
    }
    const ok = await this.waitFor(() => this.pongs.has(n) || this.closedWith !== null, timeoutMs);
    if (this.problems.length > before) return `protocol:${this.problems.at(-1)!.slice(0, 60)}`;
    if (!ok) return "hang";
    if (this.closedWith !== null) return `closed:${this.closedWith}`;
    return "ok";
  }

  /**
   * The session is not stuck: one last valid frame must be answered (the newest frame is never
   * dropped, so its answer comes after every earlier frame was answered or dropped).
   */
  async settle(lastFrame: Uint8Array<ArrayBuffer>, timeoutMs: number): Promise<boolean> {
    if (this.closedWith !== null || !this.open_) return true;
    try {
      this.ws.send(lastFrame);
    } catch {
      return true;
    }
    const seq = ++this.framesSent;
    return this.waitFor(() => this.answeredSeqs.has(seq) || this.closedWith !== null, timeoutMs);
  }

  close(): void {
    try {
      this.ws.close();
    } catch {
      // already closed
    }
  }

  private async waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) return false;
      await Bun.sleep(2);
    }
    return true;
  }
}

/** Upgrades with bad parameters: each must end in a documented close or HTTP refusal, never a session. */
export function badUpgradeQuery(rng: Rng, goodKey: string): { label: string; query: string; protocols?: string[] } {
  switch (rng.int(0, 5)) {
    case 0:
      return { label: "no-company", query: `key=${goodKey}` };
    case 1:
      return { label: "bad-company", query: `company=${pct(nastyString(rng).slice(0, 300))}&key=${goodKey}` };
    case 2:
      return { label: "wrong-key", query: `company=fuzz&key=${pct(nastyString(rng).slice(0, 300))}` };
    case 3:
      return { label: "bad-subprotocol", query: "company=fuzz", protocols: ["facegate.v1", `facegate.key.${"k".repeat(rng.int(1, 600))}`] };
    case 4:
      return { label: "bad-kiosk", query: `company=fuzz&key=${goodKey}&kiosk=${"k".repeat(rng.int(100, 5000))}` };
    default:
      return { label: "no-key", query: "company=fuzz" };
  }
}
