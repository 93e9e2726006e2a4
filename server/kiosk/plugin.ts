/**
 * The kiosk plugin: mounts the live-recognition WebSocket and the kiosk page on a Hono app.
 *
 *   const kiosk = kioskPlugin({ api, keys, upgradeWebSocket, events, config: loadKioskConfig(env) });
 *   kiosk(app);                       // or createApp({ ..., plugins: [kiosk] })
 *   Bun.serve({ fetch: app.fetch, websocket: { ...websocket, ...kioskWebSocketOptions(config) } });
 *
 * Routes:
 * - `GET /v1/kiosk/ws?company=<id>[&key=<key>][&kiosk=<name>]`: the WebSocket (protocol in
 *   ./protocol.ts). The key is checked during the upgrade (./auth.ts: query, X-API-Key header or
 *   subprotocol `facegate.key.<key>`); a wrong key or one without the recognize scope on the
 *   company is refused (error + close 4401/4403) before a session exists, an address backing off
 *   after wrong keys gets HTTP 429. Only sessions count toward KIOSK_MAX_SESSIONS and
 *   KIOSK_MAX_SESSIONS_PER_ADDRESS. `kiosk=<name>` tags identification events and shares the
 *   cooldown and the stranger-event budget across reconnects.
 *
 * The kiosk page itself (`/kiosk`) is a static build served by server/pages.ts.
 */
import type { Context, Env, Hono } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import {
  CompanyIdSchema,
  FaceError,
  type EventSink,
  type FaceApi,
  type IdentifiedEvent,
} from "../../lib/core/mod.ts";
import type { ApiKeys, Principal } from "../http/auth.ts";
import type { AuthThrottle } from "../http/auth-throttle.ts";
import { AddressCounter, authenticateKiosk, kioskKey } from "./auth.ts";
import { byLabel, type MetricFamily, type MetricsRegistry } from "../observe/metrics.ts";
import { loadKioskConfig, type KioskConfig } from "./config.ts";
import { eventSinkFromEnv } from "./events.ts";
import { CLOSE_CODES, type ServerMessage } from "./protocol.ts";
import { KioskSession } from "./session.ts";
import type { KioskSignal } from "../integration/mod.ts";
import { StrangerBudget } from "./stranger-limit.ts";

export interface KioskPluginOptions {
  /**
   * Only for a host app without a desk: mounted by createApp, sessions always call the desk's kiosk
   * FaceApi (admission on the kiosk share, deadline, metrics), never a raw service.
   */
  api?: FaceApi;
  /** Default: the app's. */
  keys?: ApiKeys;
  /** From `createBunWebSocket()` (hono/bun), or any Hono WebSocket adapter. */
  // biome-ignore lint: the adapter's socket type varies by runtime.
  upgradeWebSocket: UpgradeWebSocket<any>;
  /** Where `identified` and `unknown` events go (LocalEventSink embedded, NatsEventSink in NATS mode). */
  events?: EventSink;
  /** Defaults: `loadKioskConfig(process.env)`. */
  config?: KioskConfig;
  /** Structured log sink (the server's logger fits). */
  logger?: LogSink;
}

export interface KioskTotals {
  sessionsStarted: number;
  framesReceived: number;
  framesProcessed: number;
  framesDropped: number;
  framesRejected: number;
  /** Frames whose recognition failed (timeout, unavailable, internal): each got an `error`. */
  frameErrors: number;
  /** Frames shed by the admission limiter (the kiosk share was in use): each got an `error`. */
  framesShed: number;
  identified: number;
  strangers: number;
  strangersLimited: number;
  notLive: number;
  /** Connections refused before a session started (no company, too many sessions). */
  sessionsRefused: number;
  livenessPassed: number;
  livenessFlat: number;
  challengesIssued: number;
  challengesPassed: number;
  challengesFailed: number;
}

type LogSink = { info(msg: string, fields?: Record<string, unknown>): void; warn(msg: string, fields?: Record<string, unknown>): void };

/** What createApp passes to plugins; the kiosk takes api, keys and logger from it when not given. */
export interface KioskMountContext {
  api?: FaceApi;
  /** The server's desk (createApp's plugin context): the kiosk's FaceApi is `desk.kiosk`. */
  desk?: { kiosk: FaceApi };
  keys?: ApiKeys;
  logger?: LogSink;
  /** The server's registry: the kiosk adds its gauges and counters to /metrics. */
  metrics?: MetricsRegistry;
  /** The server's failed-key back-off (shared with HTTP, so guessing over either path counts). */
  authThrottle?: AuthThrottle;
  /** The client's address (per-address session cap, back-off). */
  clientIp?: (c: Context) => string | undefined;
  /** THRESHOLD_FLOOR for `settings` thresholds of non-admin keys. */
  config?: { thresholdFloor: number };
}

export interface KioskPlugin {
  <E extends Env>(app: Hono<E>, ctx?: KioskMountContext): void;
  readonly config: KioskConfig;
  /** Live sessions (read-only view). */
  readonly sessions: ReadonlySet<KioskSession>;
  /** Counters over ended and live sessions. */
  totals(): KioskTotals;
  /** The same as Prometheus families (open sessions, frames, identifications, errors). */
  metrics(): MetricFamily[];
  /** Listeners get every identification of every session (besides the event sink). */
  onIdentified(listener: (event: IdentifiedEvent) => void): () => void;
  /** Listeners get every signal (identified with its timing, unknown, not_live) of every session: the door, MQTT. */
  onSignal(listener: (signal: KioskSignal) => void): () => void;
  /** Closes every session (1001), e.g. on shutdown. */
  closeAll(): void;
}

/** Settings for Bun.serve's `websocket` so the transport refuses absurd messages before we see them. */
export function kioskWebSocketOptions(config: KioskConfig): { maxPayloadLength: number } {
  // Twice the frame limit: frames a little too large get a protocol error instead of a dropped connection.
  return { maxPayloadLength: Math.max(config.maxFrameBytes * 2, 1024 * 1024) };
}

/** Bound on the per-kiosk cooldown tables kept across reconnects. */
const MAX_COOLDOWN_TABLES = 1024;

export function kioskPlugin(options: KioskPluginOptions): KioskPlugin {
  const { upgradeWebSocket, events } = options;
  let logger = options.logger;
  const config = options.config ?? loadKioskConfig(process.env);
  const sessions = new Set<KioskSession>();
  const listeners = new Set<(event: IdentifiedEvent) => void>();
  const signalListeners = new Set<(signal: KioskSignal) => void>();
  const cooldownTables = new Map<string, Map<string, number>>();
  const strangerBudgets = new Map<string, StrangerBudget>();
  const totals: KioskTotals = {
    sessionsStarted: 0,
    framesReceived: 0,
    framesProcessed: 0,
    framesDropped: 0,
    framesRejected: 0,
    frameErrors: 0,
    framesShed: 0,
    identified: 0,
    strangers: 0,
    strangersLimited: 0,
    notLive: 0,
    sessionsRefused: 0,
    livenessPassed: 0,
    livenessFlat: 0,
    challengesIssued: 0,
    challengesPassed: 0,
    challengesFailed: 0,
  };
  const add = (into: KioskTotals, s: KioskSession): void => {
    const st = s.stats;
    into.framesReceived += st.received;
    into.framesProcessed += st.processed;
    into.framesDropped += st.dropped;
    into.framesRejected += st.rejected;
    into.frameErrors += st.errors;
    into.framesShed += st.shed;
    into.identified += st.identified;
    into.strangers += st.strangers;
    into.strangersLimited += st.strangersLimited;
    into.notLive += st.notLive;
    into.livenessPassed += st.livenessPassed;
    into.livenessFlat += st.livenessFlat;
    into.challengesIssued += st.challengesIssued;
    into.challengesPassed += st.challengesPassed;
    into.challengesFailed += st.challengesFailed;
  };
  const addEnded = (s: KioskSession): void => add(totals, s);
  const currentTotals = (): KioskTotals => {
    const out = { ...totals };
    for (const s of sessions) add(out, s);
    return out;
  };
  let unregisterMetrics: (() => void) | undefined;
  const perAddress = new AddressCounter(config.maxSessionsPerAddress);
  /** What the upgrade middleware decided, handed to the socket's handlers (keyed by the request). */
  const decisions = new WeakMap<Request, UpgradeDecision>();

  const cooldownsFor = (companyId: string, kioskId: string | null): Map<string, number> | undefined => {
    if (kioskId === null) return undefined;
    const key = `${companyId}\u0000${kioskId}`;
    let table = cooldownTables.get(key);
    if (!table) {
      if (cooldownTables.size >= MAX_COOLDOWN_TABLES) {
        const oldest = cooldownTables.keys().next().value;
        if (oldest !== undefined) cooldownTables.delete(oldest);
      }
      table = new Map();
      cooldownTables.set(key, table);
    }
    return table;
  };

  /** One budget per company and kiosk (a session without a kiosk name gets its own). */
  const strangerBudgetFor = (companyId: string, kioskId: string | null): StrangerBudget | undefined => {
    if (kioskId === null) return undefined;
    const key = `${companyId}\u0000${kioskId}`;
    let budget = strangerBudgets.get(key);
    if (!budget) {
      if (strangerBudgets.size >= MAX_COOLDOWN_TABLES) {
        const oldest = strangerBudgets.keys().next().value;
        if (oldest !== undefined) strangerBudgets.delete(oldest);
      }
      budget = new StrangerBudget(config.strangerPerMinute);
      strangerBudgets.set(key, budget);
    }
    return budget;
  };

  const mount = <E extends Env>(app: Hono<E>, ctx: KioskMountContext = {}): void => {
    const api = ctx.desk?.kiosk ?? options.api ?? ctx.api;
    const keys = options.keys ?? ctx.keys;
    logger ??= ctx.logger;
    if (!api || !keys) throw new Error("kioskPlugin needs `api` and `keys` (given or from createApp's plugin context)");
    // One registration per plugin: mounting it again (another app) moves it to the newest registry.
    unregisterMetrics?.();
    unregisterMetrics = ctx.metrics?.addSource(() => kioskMetrics(currentTotals(), sessions.size, config.maxSessions));
    app.get(
      "/v1/kiosk/ws",
      async (c, next) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
          return c.json({ error: { code: "INVALID_ARGUMENT", message: "this route needs a WebSocket upgrade" } }, 426);
        }
        const address = ctx.clientIp?.(c) ?? "unknown";
        const company = CompanyIdSchema.safeParse(c.req.query("company"));
        let decision: UpgradeDecision;
        if (!company.success) {
          decision = { refuse: { code: "INVALID_ARGUMENT", message: "query parameter company=<id> is required", closeCode: CLOSE_CODES.badRequest }, address };
        } else {
          try {
            const principal = authenticateKiosk(keys, ctx.authThrottle, address, company.data, kioskKey({ query: (n) => c.req.query(n), header: (n) => c.req.header(n) }));
            decision = { companyId: company.data, principal, address };
          } catch (error) {
            const e = FaceError.from(error);
            if (e.code === "RATE_LIMITED") {
              // Backing off after wrong keys: refused before upgrading, like HTTP.
              totals.sessionsRefused++;
              const retryAfter = (e.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 1;
              return c.json({ error: { code: e.code, message: e.message } }, 429, { "Retry-After": String(retryAfter) });
            }
            const closeCode = e.code === "FORBIDDEN" ? CLOSE_CODES.forbidden : e.code === "UNAUTHORIZED" ? CLOSE_CODES.unauthorized : CLOSE_CODES.internal;
            decision = { refuse: { code: e.code, message: e.message, closeCode }, address };
          }
        }
        decisions.set(c.req.raw, decision);
        await next();
      },
      upgradeWebSocket((c) => {
        const decision = decisions.get(c.req.raw) ?? { refuse: { code: "INTERNAL", message: "no upgrade decision", closeCode: CLOSE_CODES.internal }, address: "unknown" };
        decisions.delete(c.req.raw);
        const kioskParam = c.req.query("kiosk");
        const kioskId = kioskParam && kioskParam.length <= 128 ? kioskParam : null;
        let session: KioskSession | null = null;
        let socket: WSContext | null = null;
        let counted = false;

        const sendRaw = (ws: WSContext, message: ServerMessage): void => ws.send(JSON.stringify(message));
        const refuse = (ws: WSContext, code: FaceError["code"], message: string, closeCode: number): void => {
          totals.sessionsRefused++;
          sendRaw(ws, { type: "error", code, message });
          ws.close(closeCode, message.slice(0, 120));
        };

        return {
          onOpen(_event, ws) {
            socket = ws;
            if ("refuse" in decision) {
              refuse(ws, decision.refuse.code, decision.refuse.message, decision.refuse.closeCode);
              return;
            }
            if (sessions.size >= config.maxSessions) {
              refuse(ws, "UNAVAILABLE", "too many kiosk sessions; try again later", CLOSE_CODES.tryAgainLater);
              return;
            }
            if (!perAddress.tryAdd(decision.address)) {
              refuse(ws, "UNAVAILABLE", `too many kiosk sessions from this address (${perAddress.max}); try again later`, CLOSE_CODES.tryAgainLater);
              return;
            }
            counted = true;
            const { companyId, principal } = decision;
            const s: KioskSession = new KioskSession({
              api,
              companyId,
              config,
              principal,
              thresholdFloor: ctx.config?.thresholdFloor,
              kioskId,
              events,
              cooldowns: cooldownsFor(companyId, kioskId),
              strangerBudget: strangerBudgetFor(companyId, kioskId),
              transport: {
                send: (message) => {
                  if (socket) sendRaw(socket, message);
                },
                close: (code, reason) => socket?.close(code, reason),
              },
              onIdentified: (event) => {
                logger?.info("kiosk identified", {
                  company: event.companyId,
                  user: event.userId,
                  confidence: Math.round(event.confidence * 1000) / 1000,
                  session: event.sessionId,
                  kiosk: event.kioskId,
                });
                for (const listener of listeners) listener(event);
              },
              onSignal: (signal) => {
                if (signal.type === "unknown") {
                  logger?.info("kiosk stranger", { company: signal.event.companyId, session: signal.event.sessionId, kiosk: signal.event.kioskId });
                }
                for (const listener of signalListeners) {
                  try {
                    listener(signal);
                  } catch (error) {
                    logger?.warn("kiosk signal listener failed", { type: signal.type, error: String(error) });
                  }
                }
              },
              onEnd: (ended) => {
                if (sessions.delete(ended)) addEnded(ended);
              },
              log: (msg, fields) => logger?.warn(msg, fields),
            });
            session = s;
            sessions.add(s);
            totals.sessionsStarted++;
            void s.start();
          },
          onMessage(event, _ws) {
            const s = session;
            if (!s) return;
            const data = event.data;
            if (typeof data === "string") void s.handleText(data);
            else if (data instanceof ArrayBuffer) s.handleBinary(new Uint8Array(data));
            else if (ArrayBuffer.isView(data)) s.handleBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
            else if (data instanceof Blob) void data.arrayBuffer().then((b) => s.handleBinary(new Uint8Array(b)));
            else if (data instanceof SharedArrayBuffer) s.handleBinary(new Uint8Array(data));
          },
          onClose() {
            session?.handleClose();
            session = null;
            socket = null;
            if (counted) perAddress.remove(decision.address);
            counted = false;
          },
          onError() {
            session?.handleClose();
          },
        };
      }),
    );
  };

  return Object.assign(mount, {
    config,
    sessions: sessions as ReadonlySet<KioskSession>,
    totals: currentTotals,
    metrics: (): MetricFamily[] => kioskMetrics(currentTotals(), sessions.size, config.maxSessions),
    onIdentified(listener: (event: IdentifiedEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onSignal(listener: (signal: KioskSignal) => void): () => void {
      signalListeners.add(listener);
      return () => signalListeners.delete(listener);
    },
    closeAll(): void {
      for (const s of [...sessions]) s.close(CLOSE_CODES.goingAway, "server shutting down");
    },
  });
}

type UpgradeDecision =
  | { companyId: string; principal: Principal; address: string }
  | { refuse: { code: FaceError["code"]; message: string; closeCode: number }; address: string };

/** The kiosk's /metrics families: counters only grow (ended sessions are folded into the totals). */
function kioskMetrics(t: KioskTotals, open: number, maxSessions: number): MetricFamily[] {
  const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", values: [{ value }] });
  return [
    { name: "facegate_kiosk_sessions", help: "Open kiosk WebSocket sessions.", values: [{ value: open }] },
    { name: "facegate_kiosk_sessions_max", help: "KIOSK_MAX_SESSIONS.", values: [{ value: maxSessions }] },
    counter("facegate_kiosk_sessions_started_total", "Kiosk sessions started.", t.sessionsStarted),
    counter("facegate_kiosk_sessions_refused_total", "Kiosk connections refused before a session (no company, missing/wrong key or scope, backing off, too many sessions).", t.sessionsRefused),
    counter("facegate_kiosk_frames_received_total", "Frames received from kiosks (after authentication).", t.framesReceived),
    counter("facegate_kiosk_frames_processed_total", "Frames recognized and answered with a result.", t.framesProcessed),
    counter("facegate_kiosk_frames_dropped_total", "Frames replaced by a newer one while the session was busy (backpressure).", t.framesDropped),
    counter("facegate_kiosk_frames_rejected_total", "Frames refused before recognition (not an image, truncated, too large).", t.framesRejected),
    counter("facegate_kiosk_frame_errors_total", "Frames whose recognition failed (timeout, unavailable, invalid image, internal).", t.frameErrors),
    counter("facegate_kiosk_frames_shed_total", "Frames shed by the admission limiter: no kiosk slot was free (KIOSK_SHARE of MAX_INFLIGHT), so the frame was answered busy, never queued.", t.framesShed),
    counter("facegate_kiosk_identified_total", "Identifications (a person confirmed over K of N frames).", t.identified),
    byLabel("facegate_kiosk_strangers_total", "Tracked faces that stayed unknown for the decision window: recorded as events, or over the kiosk's STRANGER_EVENTS_PER_MINUTE.", "outcome", {
      recorded: t.strangers,
      limited: t.strangersLimited,
    }),
    counter("facegate_kiosk_not_live_total", "Tracked faces judged not live (a photo or screen, or failed challenges).", t.notLive),
    byLabel(
      "facegate_kiosk_liveness_total",
      "Tracked faces by liveness outcome: live (passed the passive check) or flat (no sign of a live face in time: a photo or screen).",
      "result",
      { live: t.livenessPassed, flat: t.livenessFlat },
    ),
    byLabel("facegate_kiosk_challenges_total", "Challenge-mode actions asked, passed and failed (not done in time).", "result", {
      issued: t.challengesIssued,
      passed: t.challengesPassed,
      failed: t.challengesFailed,
    }),
  ];
}

/**
 * For server/main.ts: the plugin with its config from the environment (KIOSK_*); a bad value
 * prints one line and exits 2, like the server's own settings. Identifications are logged; they
 * go to `events` (default: JetStream through NatsEventSink when NATS_URL is set, else an
 * in-process LocalEventSink).
 */
export function createKioskOrExit(options: Omit<KioskPluginOptions, "config"> & { env: Record<string, string | undefined> }): KioskPlugin {
  let config: KioskConfig;
  try {
    config = loadKioskConfig(options.env);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
  const { env: _env, ...rest } = options;
  const events = options.events ?? eventSinkFromEnv(options.env, (msg, fields) => options.logger?.warn(msg, fields));
  return kioskPlugin({ ...rest, events, config });
}
