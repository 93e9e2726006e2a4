/**
 * Recognition events: a kiosk session confirms who is there (an `identified` decision) and the
 * event goes to a sink: in-process listeners in embedded mode, a JetStream stream
 * (`facegate.v1.events.<company>`) in NATS mode, for attendance backends to consume.
 */
import { z } from "zod";
import { BBoxSchema, CompanyIdSchema, UserIdSchema } from "./schemas.ts";

export const IdentifiedEventSchema = z.object({
  type: z.literal("identified"),
  companyId: CompanyIdSchema,
  userId: UserIdSchema,
  /** The person's display name, when they have one. */
  name: z.string().max(200).optional(),
  /** Mean cosine similarity over the frames that confirmed the person. */
  confidence: z.number(),
  bbox: BBoxSchema.nullable(),
  /** ISO 8601 time of the decision. */
  at: z.string(),
  sessionId: z.string(),
  /** Free-form kiosk name given by the client (e.g. "front-door"). */
  kioskId: z.string().max(128).optional(),
  /** The recognition threshold the session used (absent: the service's default). */
  threshold: z.number().optional(),
  /** Frames that voted for the person. */
  frames: z.number().int().nonnegative().optional(),
  /** Liveness evidence behind the decision (the kiosk's liveness check). */
  liveness: z.record(z.string(), z.unknown()).optional(),
});
export type IdentifiedEvent = z.infer<typeof IdentifiedEventSchema>;

/** A face nobody matched during its track's decision window: no image, no embedding, no identity. */
export const UnknownEventSchema = z.object({
  type: z.literal("unknown"),
  companyId: CompanyIdSchema,
  /** The best similarity any enrolled person reached over the window (below the threshold). */
  confidence: z.number(),
  bbox: BBoxSchema.nullable(),
  at: z.string(),
  sessionId: z.string(),
  kioskId: z.string().max(128).optional(),
  threshold: z.number().optional(),
  /** Frames the track was seen in when it was judged unknown (the decision window). */
  frames: z.number().int().nonnegative().optional(),
  /** The liveness check's state for that face at that moment (absent when liveness is off). */
  liveness: z.record(z.string(), z.unknown()).optional(),
});
export type UnknownEvent = z.infer<typeof UnknownEventSchema>;

/** What a kiosk session hands to its sink. */
export const KioskEventSchema = z.discriminatedUnion("type", [IdentifiedEventSchema, UnknownEventSchema]);
export type KioskEvent = z.infer<typeof KioskEventSchema>;

export interface EventSink {
  publish(event: KioskEvent): Promise<void>;
}

/** In-process fan-out to listeners; the embedded mode's sink. */
export class LocalEventSink implements EventSink {
  private readonly listeners = new Set<(event: KioskEvent) => void>();

  subscribe(listener: (event: KioskEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(event: KioskEvent): Promise<void> {
    for (const listener of this.listeners) listener(event);
  }
}
