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

export interface EventSink {
  publish(event: IdentifiedEvent): Promise<void>;
}

/** In-process fan-out to listeners; the embedded mode's sink. */
export class LocalEventSink implements EventSink {
  private readonly listeners = new Set<(event: IdentifiedEvent) => void>();

  subscribe(listener: (event: IdentifiedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(event: IdentifiedEvent): Promise<void> {
    for (const listener of this.listeners) listener(event);
  }
}
