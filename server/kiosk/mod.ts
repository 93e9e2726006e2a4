/**
 * The kiosk: the live-recognition WebSocket plugin (./plugin.ts), its session, settings, decisions,
 * liveness and events. This file is its public face.
 */

export {
  AuthMessageSchema,
  ChallengeActionSchema,
  type ChallengeMessage,
  ChallengeMessageSchema,
  ChallengeResultMessageSchema,
  type ClientMessage,
  ClientMessageSchema,
  CLOSE_CODES,
  type ErrorMessage,
  ErrorMessageSchema,
  type FaceResult,
  FaceResultSchema,
  type FaceState,
  FaceStateSchema,
  type IdentifiedMessage,
  IdentifiedMessageSchema,
  LimitsSchema,
  LIVENESS_MODES,
  LivenessModeSchema,
  MAX_CONTROL_MESSAGE_BYTES,
  PingMessageSchema,
  PongMessageSchema,
  type ReadyMessage,
  ReadyMessageSchema,
  type ResultMessage,
  ResultMessageSchema,
  type ServerMessage,
  ServerMessageSchema,
  type Settings,
  SETTINGS_BOUNDS,
  SettingsMessageSchema,
  type SettingsPatch,
  SettingsPatchSchema,
  SettingsSchema,
} from "./protocol.ts";
export { defaultSettings, KioskConfigSchema, loadKioskConfig, strangerEventsFor, type KioskConfig, type KioskConfigInput } from "./config.ts";
export { eventSinkFromEnv, LazyNatsEventSink } from "./events.ts";
export { DecisionEngine, type DecisionSettings, type FrameDecision, type Identification, type TrackVerdict } from "./decision.ts";
export { AddressCounter, authenticateKiosk, kioskKey, KEY_SUBPROTOCOL_PREFIX, KIOSK_SUBPROTOCOL } from "./auth.ts";
export { checkFrame, sniffImage, type FrameProblem } from "./frame-check.ts";
export { LatestSlot } from "./latest-slot.ts";
export type { DecisionTiming, KioskSignal, NotLiveEvent } from "../integration/mod.ts";
export { StrangerBudget } from "./stranger-limit.ts";
export {
  KioskSession,
  type KioskSessionOptions,
  type SessionState,
  type SessionStats,
  type SessionTransport,
} from "./session.ts";

export {
  createKioskOrExit,
  kioskPlugin,
  kioskWebSocketOptions,
  type KioskMountContext,
  type KioskPlugin,
  type KioskPluginOptions,
  type KioskTotals,
} from "./plugin.ts";
