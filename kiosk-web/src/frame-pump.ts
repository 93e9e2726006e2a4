/**
 * The frame pump: camera → JPEG → WebSocket, one frame in flight at a time (the next goes when the
 * previous result is back, or after 2 s), at most `fps` per second; plus the figures the status
 * bar shows (results per second, round trip, server time: medians of the last 20).
 */
import type { Camera } from "./camera.ts";
import type { KioskConnection } from "./connection.ts";

export interface PumpStats {
  fps: number;
  rttMs: number | null;
  serverMs: number | null;
  frames: number;
  dropped: number;
}

const median = (xs: readonly number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);

export class FramePump {
  private sentSeq = 0;
  /** seq → when it was sent and the size it was sent at (results come in that space). */
  private readonly inFlight = new Map<number, { at: number; w: number; h: number }>();
  private encoding = false;
  private lastSentAt = 0;
  private framesSent = 0;
  private dropped = 0;
  private readonly resultTimes: number[] = [];
  private readonly latencies: number[] = [];
  private readonly serverMs: number[] = [];
  /** Size of the frame the latest result is about. */
  frameSize = { w: 640, h: 480 };

  constructor(
    private readonly camera: Camera,
    private readonly canvas: HTMLCanvasElement,
  ) {}

  /** A new session numbers frames from 1 again. */
  reset(): void {
    this.sentSeq = 0;
    this.inFlight.clear();
  }

  /** Sends a frame when the previous one is answered (or lost for 2 s) and the rate cap allows. */
  async tick(connection: KioskConnection | null, fps: number): Promise<void> {
    if (this.encoding || !connection?.isReady || !this.camera.ready) return;
    const now = performance.now();
    if (now - this.lastSentAt < 1000 / fps) return;
    for (const [seq, f] of this.inFlight) if (now - f.at > 2000) this.inFlight.delete(seq);
    if (this.inFlight.size > 0 || connection.buffered > 1_000_000) return;
    this.encoding = true;
    this.lastSentAt = now;
    try {
      const blob = await this.camera.grab(this.canvas, 640, 0.8);
      if (!blob || !connection.isReady) return;
      const bytes = await blob.arrayBuffer();
      const { width: w, height: h } = this.canvas;
      if (connection.send(bytes)) {
        this.sentSeq++;
        this.framesSent++;
        this.inFlight.set(this.sentSeq, { at: performance.now(), w, h });
      }
    } finally {
      this.encoding = false;
    }
  }

  /** A `result` arrived for frame `seq`. */
  onResult(seq: number, serverMs: number, dropped: number): void {
    const sent = this.inFlight.get(seq);
    const now = performance.now();
    this.settle(seq);
    if (sent) {
      this.latencies.push(now - sent.at);
      if (this.latencies.length > 20) this.latencies.shift();
      this.frameSize = { w: sent.w, h: sent.h };
    }
    this.resultTimes.push(now);
    this.serverMs.push(serverMs);
    if (this.serverMs.length > 20) this.serverMs.shift();
    this.dropped = dropped;
  }

  /** Frames up to `seq` are answered (a result or an error about them). */
  settle(seq: number): void {
    for (const s of [...this.inFlight.keys()]) if (s <= seq) this.inFlight.delete(s);
  }

  stats(): PumpStats {
    const now = performance.now();
    const t = this.resultTimes;
    while (t.length && now - t[0] > 3000) t.shift();
    const fps = t.length >= 2 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : 0;
    return { fps, rttMs: median(this.latencies), serverMs: median(this.serverMs), frames: this.framesSent, dropped: this.dropped };
  }
}
