/**
 * What a kiosk session tells the rest of the server as it decides: identifications (with the
 * timing of the frame that decided, for the door), stranger events and faces judged not live.
 * Identifications and strangers also go to the event sink (the log); `not_live` is a signal only
 * (MQTT's `not_live` topic), not an event.
 */
import type { BBox, IdentifiedEvent, UnknownEvent } from "../../lib/core/mod.ts";

/** A face judged a photo or a screen (passive check) or that failed its challenges. */
export interface NotLiveEvent {
  type: "not_live";
  companyId: string;
  bbox: BBox;
  at: string;
  sessionId: string;
  kioskId?: string;
  frames: number;
  liveness?: Record<string, unknown>;
}

/** performance.now() times: when the deciding frame arrived, and when the decision was taken. */
export interface DecisionTiming {
  frameAt: number;
  decidedAt: number;
}

export type KioskSignal =
  /** A session started (the kiosk is there: MQTT announces it to Home Assistant). */
  | { type: "session"; companyId: string; kioskId: string | null; sessionId: string }
  | { type: "identified"; event: IdentifiedEvent; timing: DecisionTiming }
  | { type: "unknown"; event: UnknownEvent }
  | { type: "not_live"; event: NotLiveEvent };
