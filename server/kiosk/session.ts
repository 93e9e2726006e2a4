/**
 * One kiosk session per WebSocket connection. Runtime-agnostic: the transport is two callbacks
 * (send a message, close), so sessions are tested without sockets and run the same behind any
 * WebSocket server, in embedded and NATS mode alike (they only talk to a `FaceApi`).
 *
 * Backpressure: one frame is recognized at a time; while it runs, only the newest arriving frame
 * waits (a newer one replaces it and the older counts as dropped). So a session holds at most two
 * frames (in flight + waiting), each at most `maxFrameBytes`, whatever the client sends.
 */
import {
  FaceError,
  type ErrorCode,
  type EventSink,
  type FaceApi,
  type IdentifiedEvent,
} from "../../lib/core/mod.ts";
import { defaultSettings, type KioskConfig } from "./config.ts";
import { DecisionEngine } from "./decision.ts";
import {
  CLOSE_CODES,
  ClientMessageSchema,
  MAX_CONTROL_MESSAGE_BYTES,
  SettingsSchema,
  type ServerMessage,
  type Settings,
  type SettingsPatch,
} from "./protocol.ts";

export interface SessionTransport {
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

/**
 * Checks a key for the session's company: returns when allowed, throws FaceError UNAUTHORIZED
 * (missing/unknown key) or FORBIDDEN (key for another company). `undefined` = no key given: an
 * open server (no keys configured) allows it.
 */
export type Authorizer = (key: string | undefined) => void | Promise<void>;

export interface KioskSessionOptions {
  api: FaceApi;
  companyId: string;
  config: KioskConfig;
  transport: SessionTransport;
  authorize: Authorizer;
  /** Key from the URL; without it the first message must be `auth` (unless the server is open). */
  key?: string;
  kioskId?: string | null;
  events?: EventSink;
  /** Shared cooldown table (userId → last identification time), e.g. per company and kiosk. */
  cooldowns?: Map<string, number>;
  /** Called with the final stats when the session ends (for metrics and session bookkeeping). */
  onEnd?: (session: KioskSession) => void;
  onIdentified?: (event: IdentifiedEvent) => void;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

export type SessionState = "auth" | "ready" | "closed";

export interface SessionStats {
  received: number;
  processed: number;
  dropped: number;
  rejected: number;
  errors: number;
  identified: number;
  /** Bytes of frames held right now (in flight + waiting). */
  heldBytes: number;
  /** High-water mark of heldBytes. */
  maxHeldBytes: number;
}

interface Frame {
  seq: number;
  bytes: Uint8Array<ArrayBuffer>;
}

/** JPEG (FF D8 FF), PNG, WebP (RIFF....WEBP): the formats the engine decodes. */
function sniffImage(b: Uint8Array): "jpeg" | "png" | "webp" | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[8] === 0x57 && b[9] === 0x45) return "webp";
  return null;
}

/** A complete JPEG ends with the EOI marker (FF D9), possibly followed by a little padding. */
function jpegComplete(b: Uint8Array): boolean {
  for (let i = b.length - 2; i >= Math.max(2, b.length - 64); i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  }
  return false;
}

let sessionCounter = 0;

export class KioskSession {
  readonly id: string;
  readonly companyId: string;
  readonly startedAt: number;
  private _state: SessionState = "auth";
  private settings: Settings;
  private readonly decision: DecisionEngine;
  private readonly stats_: SessionStats = {
    received: 0,
    processed: 0,
    dropped: 0,
    rejected: 0,
    errors: 0,
    identified: 0,
    heldBytes: 0,
    maxHeldBytes: 0,
  };
  private busy = false;
  private pending: Frame | null = null;
  private lastActivity: number;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private authTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: KioskSessionOptions) {
    this.now = opts.now ?? Date.now;
    this.id = `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
    this.companyId = opts.companyId;
    this.startedAt = this.now();
    this.lastActivity = this.startedAt;
    this.settings = defaultSettings(opts.config, opts.kioskId ?? null);
    this.decision = new DecisionEngine(this.settings, opts.cooldowns);
  }

  get state(): SessionState {
    return this._state;
  }

  get stats(): Readonly<SessionStats> {
    return { ...this.stats_ };
  }

  get currentSettings(): Readonly<Settings> {
    return this.settings;
  }

  /** Call once the connection is open: authenticates with the URL key (or as an open server) or waits for `auth`. */
  async start(): Promise<void> {
    this.scheduleIdleCheck();
    if (this.opts.key !== undefined) {
      await this.authenticate(this.opts.key);
      return;
    }
    try {
      await this.opts.authorize(undefined);
    } catch (error) {
      if (this._state === "closed") return;
      if (FaceError.is(error, "UNAUTHORIZED")) {
        // Keys are configured: the first message must be `auth`.
        this.authTimer = setTimeout(
          () => this.fail("TIMEOUT", "no auth message in time", CLOSE_CODES.timeout),
          this.opts.config.authTimeoutMs,
        );
        return;
      }
      this.failAuth(error);
      return;
    }
    this.becomeReady();
  }

  /** A text message from the client. */
  async handleText(text: string): Promise<void> {
    if (this._state === "closed") return;
    this.touch();
    if (text.length > MAX_CONTROL_MESSAGE_BYTES) {
      this.sendError("INVALID_ARGUMENT", `control messages are limited to ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.sendError("INVALID_ARGUMENT", "control message is not valid JSON");
      return;
    }
    const parsed = ClientMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      this.sendError("INVALID_ARGUMENT", `invalid control message: ${where}${issue?.message ?? "invalid"}`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case "ping":
        this.send({ type: "pong", ...(message.t !== undefined ? { t: message.t } : {}) });
        return;
      case "auth":
        if (this._state === "ready") {
          this.sendError("INVALID_ARGUMENT", "already authenticated");
          return;
        }
        await this.authenticate(message.key);
        return;
      case "settings": {
        if (this._state !== "ready") {
          this.fail("UNAUTHORIZED", "authenticate first: send {type:\"auth\", key}", CLOSE_CODES.unauthorized);
          return;
        }
        const { type: _type, ...patch } = message;
        this.applySettings(patch);
        return;
      }
    }
  }

  /** A binary message: one camera frame. */
  handleBinary(bytes: Uint8Array): void {
    if (this._state === "closed") return;
    this.touch();
    if (this._state !== "ready") {
      // Nothing is processed before authentication.
      this.fail("UNAUTHORIZED", "authenticate before sending frames", CLOSE_CODES.unauthorized);
      return;
    }
    const seq = ++this.stats_.received;
    const { maxFrameBytes } = this.opts.config;
    if (bytes.byteLength > maxFrameBytes) {
      this.stats_.rejected++;
      this.sendError("IMAGE_TOO_LARGE", `frame is ${bytes.byteLength} bytes; the limit is ${maxFrameBytes}`, seq);
      return;
    }
    const kind = sniffImage(bytes);
    if (kind === null) {
      this.stats_.rejected++;
      this.sendError("INVALID_IMAGE", "frame is not a JPEG, PNG or WebP image", seq);
      return;
    }
    if (kind === "jpeg" && !jpegComplete(bytes)) {
      this.stats_.rejected++;
      this.sendError("INVALID_IMAGE", "frame is a truncated JPEG (no end-of-image marker)", seq);
      return;
    }
    // Shared memory is copied: the engine takes plain ArrayBuffer-backed bytes.
    const owned = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    const frame = { seq, bytes: owned };
    if (this.busy) {
      if (this.pending) {
        this.stats_.dropped++;
        this.release(this.pending);
      }
      this.pending = frame;
      this.hold(frame);
      return;
    }
    this.hold(frame);
    void this.run(frame);
  }

  /** The transport closed (client left): stop timers and drop frames. */
  handleClose(): void {
    if (this._state === "closed") return;
    this._state = "closed";
    this.cleanup();
  }

  /** Server-side close with a reason (e.g. shutdown). */
  close(code: number = CLOSE_CODES.goingAway, reason = "closing"): void {
    if (this._state === "closed") return;
    this._state = "closed";
    this.cleanup();
    try {
      this.opts.transport.close(code, reason);
    } catch {
      // already closed underneath
    }
  }

  // ---------------------------------------------------------------- internals

  private async authenticate(key: string): Promise<void> {
    try {
      await this.opts.authorize(key);
    } catch (error) {
      this.failAuth(error);
      return;
    }
    if (this._state === "closed") return;
    this.becomeReady();
  }

  private becomeReady(): void {
    if (this._state !== "auth") return;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    this._state = "ready";
    this.sendReady();
  }

  private failAuth(error: unknown): void {
    const err = FaceError.from(error);
    if (err.code === "FORBIDDEN") this.fail("FORBIDDEN", err.message, CLOSE_CODES.forbidden);
    else if (err.code === "UNAUTHORIZED") this.fail("UNAUTHORIZED", err.message, CLOSE_CODES.unauthorized);
    else this.fail(err.code, err.message, CLOSE_CODES.internal);
  }

  private applySettings(patch: SettingsPatch): void {
    const merged = SettingsSchema.safeParse({ ...this.settings, ...patch });
    if (!merged.success) {
      this.sendError("INVALID_ARGUMENT", `invalid settings: ${merged.error.issues[0]?.message ?? "invalid"}`);
      return;
    }
    this.settings = merged.data;
    this.decision.update(this.settings);
    // Answer with the effective settings so the client shows what applies.
    this.sendReady();
  }

  private sendReady(): void {
    this.send({
      type: "ready",
      sessionId: this.id,
      companyId: this.companyId,
      settings: this.settings,
      limits: { maxFrameBytes: this.opts.config.maxFrameBytes, idleTimeoutMs: this.opts.config.idleTimeoutMs },
    });
  }

  private async run(first: Frame): Promise<void> {
    this.busy = true;
    let frame: Frame | null = first;
    try {
      while (frame && this._state === "ready") {
        await this.process(frame);
        this.release(frame);
        frame = this.pending;
        this.pending = null;
      }
    } finally {
      this.busy = false;
    }
  }

  private async process(frame: Frame): Promise<void> {
    const { api, companyId, config } = this.opts;
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const threshold = this.settings.threshold;
      const call = api.recognizeFaces(
        { companyId, image: frame.bytes, ...(threshold !== null ? { threshold } : {}) },
        { timeoutMs: config.frameTimeoutMs },
      );
      // Our own bound too: a stuck call must not stall the session forever.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new FaceError("TIMEOUT", `recognition took longer than ${config.frameTimeoutMs} ms`)),
          config.frameTimeoutMs,
        );
      });
      const result = await Promise.race([call, timeout]);
      const ms = Math.round((performance.now() - started) * 10) / 10;
      if (this._state !== "ready") return;
      this.stats_.processed++;
      const now = this.now();
      const decision = this.decision.observe(result.faces, now);
      this.send({ type: "result", seq: frame.seq, faces: decision.faces, ms, dropped: this.stats_.dropped });
      for (const id of decision.identified) this.identify(frame.seq, id, now);
    } catch (error) {
      if (this._state !== "ready") return;
      this.stats_.errors++;
      const err = FaceError.from(error);
      if (err.code === "INTERNAL") this.opts.log?.("kiosk frame failed", { sessionId: this.id, error: String(error) });
      this.sendError(err.code, err.code === "INTERNAL" ? "internal error" : err.message, frame.seq);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private identify(seq: number, id: { userId: string; confidence: number; bbox: [number, number, number, number]; frames?: number }, now: number): void {
    this.stats_.identified++;
    const at = new Date(now).toISOString();
    this.send({ type: "identified", seq, userId: id.userId, confidence: id.confidence, bbox: id.bbox, at });
    const event: IdentifiedEvent = {
      type: "identified",
      companyId: this.companyId,
      userId: id.userId,
      confidence: id.confidence,
      bbox: id.bbox,
      at,
      sessionId: this.id,
      ...(this.settings.kioskId !== null ? { kioskId: this.settings.kioskId } : {}),
      ...(this.settings.threshold !== null ? { threshold: this.settings.threshold } : {}),
      ...(id.frames !== undefined ? { frames: id.frames } : {}),
    };
    this.opts.onIdentified?.(event);
    this.opts.events?.publish(event).catch((error: unknown) => {
      this.opts.log?.("kiosk event publish failed", { sessionId: this.id, error: String(error) });
    });
  }

  private hold(frame: Frame): void {
    this.stats_.heldBytes += frame.bytes.byteLength;
    if (this.stats_.heldBytes > this.stats_.maxHeldBytes) this.stats_.maxHeldBytes = this.stats_.heldBytes;
  }

  private release(frame: Frame): void {
    this.stats_.heldBytes -= frame.bytes.byteLength;
  }

  private send(message: ServerMessage): void {
    if (this._state === "closed") return;
    try {
      this.opts.transport.send(message);
    } catch {
      // The socket went away; the close handler cleans up.
    }
  }

  private sendError(code: ErrorCode, message: string, seq?: number): void {
    this.send({ type: "error", code, message, ...(seq !== undefined ? { seq } : {}) });
  }

  /** Error message, then close: for auth failures and timeouts. */
  private fail(code: ErrorCode, message: string, closeCode: number): void {
    this.sendError(code, message);
    this.close(closeCode, message.slice(0, 120));
  }

  private touch(): void {
    this.lastActivity = this.now();
  }

  /** One timer per session, re-armed for the remaining time instead of reset on every frame. */
  private scheduleIdleCheck(): void {
    const { idleTimeoutMs } = this.opts.config;
    const remaining = Math.max(10, this.lastActivity + idleTimeoutMs - this.now());
    this.idleTimer = setTimeout(() => {
      if (this._state === "closed") return;
      if (this.now() - this.lastActivity >= idleTimeoutMs) {
        this.fail("TIMEOUT", `no message for ${idleTimeoutMs} ms`, CLOSE_CODES.timeout);
        return;
      }
      this.scheduleIdleCheck();
    }, remaining);
  }

  private cleanup(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.authTimer) clearTimeout(this.authTimer);
    this.idleTimer = null;
    this.authTimer = null;
    if (this.pending) this.release(this.pending);
    this.pending = null;
    this.opts.onEnd?.(this);
  }
}
