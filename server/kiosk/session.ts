/**
 * One kiosk session per authenticated WebSocket connection (the key is checked during the
 * upgrade: ./auth.ts). Runtime-agnostic: the transport is two callbacks (send a message, close),
 * so sessions are tested without sockets and run the same behind any WebSocket server, in
 * embedded and NATS mode alike (they only talk to a `FaceApi`).
 *
 * Frames pass ./frame-check.ts, then a latest-wins slot (./latest-slot.ts): one frame is
 * recognized at a time and only the newest waits, so a session holds at most two frames, each at
 * most `maxFrameBytes`, whatever the client sends. Decisions across frames: ./decision.ts.
 */
import {
  FaceError,
  type ErrorCode,
  type EventSink,
  type FaceApi,
  type IdentifiedEvent,
  type KioskEvent,
  type Recognition,
  type UnknownEvent,
} from "../../lib/core/mod.ts";
import { isShed } from "../desk/desk.ts";
import { checkThreshold, type Principal } from "../http/auth.ts";
import { defaultSettings, livenessFloor, strangerEventsFor, type KioskConfig } from "./config.ts";
import { DecisionEngine, type AggregateDecision, type Identification, type TrackVerdict } from "./decision.ts";
import type { DecisionTiming, KioskSignal } from "../integration/mod.ts";
import { StrangerBudget } from "./stranger-limit.ts";
import { checkFrame } from "./frame-check.ts";
import { LatestSlot } from "./latest-slot.ts";
import {
  CLOSE_CODES,
  LIVENESS_MODES,
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

export interface KioskSessionOptions {
  api: FaceApi;
  companyId: string;
  config: KioskConfig;
  transport: SessionTransport;
  /** Who opened the session (authenticated during the upgrade); absent: trusted caller (tests, embedding). */
  principal?: Principal;
  /** THRESHOLD_FLOOR: a `settings` threshold below it needs an admin key (default: no floor beyond the settings bounds). */
  thresholdFloor?: number;
  kioskId?: string | null;
  events?: EventSink;
  /** Shared cooldown table (userId → last identification time), e.g. per company and kiosk. */
  cooldowns?: Map<string, number>;
  /** Called with the final stats when the session ends (for metrics and session bookkeeping). */
  onEnd?: (session: KioskSession) => void;
  onIdentified?: (event: IdentifiedEvent) => void;
  /** Every identification, stranger and not-live face as it is decided (the door, MQTT). */
  onSignal?: (signal: KioskSignal) => void;
  /** The kiosk's stranger-event budget, shared across its sessions (default: one per session). */
  strangerBudget?: StrangerBudget;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
  /** Picks challenge actions (default Math.random). */
  random?: () => number;
}

export type SessionState = "ready" | "closed";

export interface SessionStats {
  received: number;
  processed: number;
  dropped: number;
  rejected: number;
  errors: number;
  /** Frames the desk shed (no kiosk slot free); not counted in `errors`. */
  shed: number;
  identified: number;
  /** Stranger events recorded, and those over the kiosk's budget (not recorded). */
  strangers: number;
  strangersLimited: number;
  /** Faces judged not live (a photo, a screen, failed challenges). */
  notLive: number;
  /** Faces that passed the liveness check / were judged flat (a photo or screen). */
  livenessPassed: number;
  livenessFlat: number;
  challengesIssued: number;
  challengesPassed: number;
  challengesFailed: number;
  /** Bytes of frames held right now (in flight + waiting). */
  heldBytes: number;
  /** High-water mark of heldBytes. */
  maxHeldBytes: number;
}

interface Frame {
  seq: number;
  bytes: Uint8Array<ArrayBuffer>;
  /** performance.now() at arrival (the door's latency is measured from here). */
  at: number;
}

let sessionCounter = 0;

export class KioskSession {
  readonly id: string;
  readonly companyId: string;
  readonly startedAt: number;
  private _state: SessionState = "ready";
  private started = false;
  private settings: Settings;
  private readonly decision: DecisionEngine;
  private readonly stats_: SessionStats = {
    received: 0,
    processed: 0,
    dropped: 0,
    rejected: 0,
    errors: 0,
    shed: 0,
    identified: 0,
    strangers: 0,
    strangersLimited: 0,
    notLive: 0,
    livenessPassed: 0,
    livenessFlat: 0,
    challengesIssued: 0,
    challengesPassed: 0,
    challengesFailed: 0,
    heldBytes: 0,
    maxHeldBytes: 0,
  };
  private readonly slot: LatestSlot<Frame>;
  private lastActivity: number;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly now: () => number;
  private readonly strangerBudget: StrangerBudget;

  constructor(private readonly opts: KioskSessionOptions) {
    this.now = opts.now ?? Date.now;
    this.id = `${Date.now().toString(36)}-${(++sessionCounter).toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
    this.companyId = opts.companyId;
    this.startedAt = this.now();
    this.lastActivity = this.startedAt;
    this.settings = defaultSettings(opts.config, opts.kioskId ?? null, opts.companyId);
    this.decision = new DecisionEngine(this.settings, opts.cooldowns, opts.random);
    this.strangerBudget = opts.strangerBudget ?? new StrangerBudget(opts.config.strangerPerMinute);
    this.slot = new LatestSlot<Frame>({
      hold: (frame) => {
        this.stats_.heldBytes += frame.bytes.byteLength;
        if (this.stats_.heldBytes > this.stats_.maxHeldBytes) this.stats_.maxHeldBytes = this.stats_.heldBytes;
      },
      run: (frame) => this.process(frame),
      release: (frame, how) => {
        this.stats_.heldBytes -= frame.bytes.byteLength;
        if (how === "dropped") this.stats_.dropped++;
      },
    });
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

  /** Call once the connection is open (already authenticated): sends `ready` and starts the idle timer. */
  async start(): Promise<void> {
    if (this.started || this._state === "closed") return;
    this.started = true;
    this.scheduleIdleCheck();
    // A mistyped company would otherwise look like "nobody recognized" forever (issue 10).
    if (!(await this.checkCompany())) {
      this.fail("COMPANY_NOT_FOUND", `company ${JSON.stringify(this.companyId)} does not exist on this server: check the kiosk's company id`, CLOSE_CODES.notFound);
      return;
    }
    if ((this._state as SessionState) === "closed") return;
    this.sendReady();
    this.opts.onSignal?.({ type: "session", companyId: this.companyId, kioskId: this.settings.kioskId, sessionId: this.id });
  }

  /** Enrolled users of the company (null: the service could not tell); false when the company does not exist. */
  private enrolled: number | null = null;

  private async checkCompany(): Promise<boolean> {
    try {
      this.enrolled = (await this.opts.api.getOperatingPoint({ companyId: this.companyId }, { timeoutMs: 5000 })).users;
      return true;
    } catch (error) {
      if (FaceError.is(error, "COMPANY_NOT_FOUND")) return false;
      this.enrolled = null; // e.g. UNAVAILABLE: do not refuse a kiosk for a hiccup
      return true;
    }
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
      case "ping": {
        this.send({ type: "pong", ...(message.t !== undefined ? { t: message.t } : {}) });
        // An empty company: look again (someone may have enrolled since) and tell the page when it changed.
        if (this.enrolled === 0) {
          if (!(await this.checkCompany())) {
            this.fail("COMPANY_NOT_FOUND", `company ${JSON.stringify(this.companyId)} no longer exists`, CLOSE_CODES.notFound);
            return;
          }
          if (this.enrolled !== 0) this.sendReady();
        }
        return;
      }
      case "auth":
        // The key is checked during the upgrade; a session is authenticated from its first message.
        this.sendError("INVALID_ARGUMENT", "already authenticated (the key is checked when the WebSocket opens)");
        return;
      case "settings": {
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
    const seq = ++this.stats_.received;
    const problem = checkFrame(bytes, this.opts.config.maxFrameBytes);
    if (problem) {
      this.stats_.rejected++;
      this.sendError(problem.code, problem.message, seq);
      return;
    }
    // Shared memory is copied: the engine takes plain ArrayBuffer-backed bytes.
    const owned = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    const frame = { seq, bytes: owned, at: performance.now() };
    this.slot.offer(frame);
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

  private applySettings(patch: SettingsPatch): void {
    const merged = SettingsSchema.safeParse({ ...this.settings, ...patch });
    if (!merged.success) {
      const issue = merged.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      this.sendError("INVALID_ARGUMENT", `invalid settings: ${where}${issue?.message ?? "invalid"}`);
      return;
    }
    // A kiosk can ask for more liveness checking, never for less than the server's (or company's) mode.
    const floor = livenessFloor(this.opts.config, this.companyId);
    if (LIVENESS_MODES.indexOf(merged.data.liveness) < LIVENESS_MODES.indexOf(floor)) {
      this.sendError("FORBIDDEN", `liveness cannot be lowered below "${floor}" by a kiosk (server setting KIOSK_LIVENESS)`);
      return;
    }
    // Within the bounds, a threshold below THRESHOLD_FLOOR still needs an admin key.
    if (this.opts.principal && this.opts.thresholdFloor !== undefined) {
      try {
        checkThreshold(this.opts.principal, this.companyId, patch.threshold, this.opts.thresholdFloor);
      } catch (error) {
        const e = FaceError.from(error);
        this.sendError(e.code, e.message);
        return;
      }
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
      ...(this.enrolled !== null ? { company: { users: this.enrolled } } : {}),
    });
  }

  private async process(frame: Frame): Promise<void> {
    const { api, companyId, config } = this.opts;
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const threshold = this.settings.threshold;
      const call = api.recognizeFaces(
        {
          companyId,
          image: frame.bytes,
          ...(threshold !== null ? { threshold } : {}),
          ...(this.settings.liveness !== "off" ? { landmarks: true } : {}),
          ...(config.aggregate ? { returnEmbeddings: true } : {}),
        },
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
      for (const f of result.faces) this.learnName(f.userId, f.name);
      const aggregates = config.aggregate ? await Promise.race([this.searchAggregates(result.faces, threshold), timeout]) : undefined;
      const ms = Math.round((performance.now() - started) * 10) / 10;
      if (this._state !== "ready") return;
      this.stats_.processed++;
      const now = this.now();
      const decision = this.decision.observe(result.faces, now, aggregates);
      for (const t of decision.livenessTransitions) {
        if (t === "live") this.stats_.livenessPassed++;
        else if (t === "flat") this.stats_.livenessFlat++;
        else if (t === "challenge_issued") this.stats_.challengesIssued++;
        else if (t === "challenge_passed") this.stats_.challengesPassed++;
        else this.stats_.challengesFailed++;
      }
      for (const c of decision.challengeOutcomes) this.send({ type: "challenge_result", seq: frame.seq, ...c });
      for (const c of decision.challenges) this.send({ type: "challenge", seq: frame.seq, ...c });
      const faces = decision.faces.map((f) => {
        const name = f.userId !== null ? this.names.get(f.userId) : undefined;
        return name !== undefined ? { ...f, name } : f;
      });
      this.send({ type: "result", seq: frame.seq, faces, ms, dropped: this.stats_.dropped });
      const timing: DecisionTiming = { frameAt: frame.at, decidedAt: performance.now() };
      for (const id of decision.identified) this.identify(frame.seq, { ...id, threshold: result.threshold }, now, timing);
      for (const v of decision.strangers) this.stranger(v, result.threshold, now);
      for (const v of decision.notLive) this.notLive(v, now);
    } catch (error) {
      if (this._state !== "ready") return;
      const err = FaceError.from(error);
      // Shed: the server is busy with other work; the frame is answered (the page sends its next one).
      if (isShed(err)) this.stats_.shed++;
      else this.stats_.errors++;
      if (err.code === "INTERNAL") this.opts.log?.("kiosk frame failed", { sessionId: this.id, error: String(error) });
      this.sendError(err.code, err.code === "INTERNAL" ? "internal error" : err.message, frame.seq);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * Searches each face's aggregated embedding (its track's recent frames, weighted). A failed
   * search leaves that face to the per-frame votes, as before aggregation.
   */
  private async searchAggregates(faces: readonly Recognition[], threshold: number | null): Promise<Map<Recognition, AggregateDecision>> {
    const { api, companyId, config } = this.opts;
    const out = new Map<Recognition, AggregateDecision>();
    await Promise.all(
      this.decision.aggregates(faces).map(async (q) => {
        try {
          const r = await api.searchEmbedding(
            { companyId, embedding: q.embedding, ...(threshold !== null ? { threshold } : {}) },
            { timeoutMs: config.frameTimeoutMs },
          );
          this.learnName(r.userId, r.name);
          out.set(q.face, { userId: r.userId, confidence: r.confidence, frames: q.frames });
        } catch (error) {
          this.opts.log?.("kiosk aggregate search failed", { sessionId: this.id, error: String(error) });
        }
      }),
    );
    return out;
  }

  /**
   * The display names the service answered with, by user (a recognition names its user): what the
   * page greets and the event carries. A user renamed while the session runs is greeted by the new
   * name from their next recognized frame.
   */
  private readonly names = new Map<string, string>();

  private learnName(userId: string | null, name: string | undefined): void {
    if (userId === null) return;
    if (name !== undefined) this.names.set(userId, name);
    else this.names.delete(userId);
  }

  /** The kiosk's name on events, when it has one. */
  private kioskTag(): { kioskId?: string } {
    return this.settings.kioskId !== null ? { kioskId: this.settings.kioskId } : {};
  }

  /** A track that stayed unknown: an `unknown` event when the company records them and the kiosk's budget allows. */
  private stranger(v: TrackVerdict, threshold: number | undefined, now: number): void {
    if (!strangerEventsFor(this.opts.config, this.companyId)) return;
    if (!this.strangerBudget.take(now)) {
      this.stats_.strangersLimited++;
      return;
    }
    this.stats_.strangers++;
    const event: UnknownEvent = {
      type: "unknown",
      companyId: this.companyId,
      confidence: v.bestScore,
      bbox: v.bbox,
      at: new Date(now).toISOString(),
      sessionId: this.id,
      ...this.kioskTag(),
      ...(threshold !== undefined ? { threshold } : this.settings.threshold !== null ? { threshold: this.settings.threshold } : {}),
      frames: v.frames,
      ...(v.liveness ? { liveness: { ...v.liveness } as Record<string, unknown> } : {}),
    };
    this.opts.onSignal?.({ type: "unknown", event });
    this.publish(event);
  }

  private notLive(v: TrackVerdict, now: number): void {
    this.stats_.notLive++;
    this.opts.onSignal?.({
      type: "not_live",
      event: {
        type: "not_live",
        companyId: this.companyId,
        bbox: v.bbox,
        at: new Date(now).toISOString(),
        sessionId: this.id,
        ...this.kioskTag(),
        frames: v.frames,
        ...(v.liveness ? { liveness: { ...v.liveness } as Record<string, unknown> } : {}),
      },
    });
  }

  private publish(event: KioskEvent): void {
    this.opts.events?.publish(event).catch((error: unknown) => {
      this.opts.log?.("kiosk event publish failed", { sessionId: this.id, type: event.type, error: String(error) });
    });
  }

  private identify(seq: number, id: Identification & { threshold?: number }, now: number, timing: DecisionTiming): void {
    this.stats_.identified++;
    const at = new Date(now).toISOString();
    const liveness = id.liveness ? { liveness: { ...id.liveness } as Record<string, unknown> } : {};
    const name = this.names.get(id.userId);
    const named = name !== undefined ? { name } : {};
    this.send({ type: "identified", seq, userId: id.userId, ...named, confidence: id.confidence, bbox: id.bbox, at, ...liveness });
    const event: IdentifiedEvent = {
      type: "identified",
      companyId: this.companyId,
      userId: id.userId,
      ...named,
      confidence: id.confidence,
      bbox: id.bbox,
      at,
      sessionId: this.id,
      ...this.kioskTag(),
      // the threshold the service decided with (the company's operating point, or the session's)
      ...(id.threshold !== undefined ? { threshold: id.threshold } : this.settings.threshold !== null ? { threshold: this.settings.threshold } : {}),
      ...(id.frames !== undefined ? { frames: id.frames } : {}),
      ...liveness,
    };
    this.opts.onIdentified?.(event);
    this.opts.onSignal?.({ type: "identified", event, timing });
    this.publish(event);
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

  /** Error message, then close: for timeouts. */
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
    this.idleTimer = null;
    this.slot.stop();
    this.opts.onEnd?.(this);
  }
}
