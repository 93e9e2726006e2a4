/**
 * Recognition events over JetStream: `NatsEventSink` publishes each IdentifiedEvent to
 * `facegate.v1.events.<company token>` (the token is base64url of the company id, like the KV
 * keys: ids may hold dots or spaces) on a stream (NATS_EVENTS_STREAM, default FACEGATE_EVENTS)
 * created if absent. Publishing waits for the stream's acknowledgement, and the message id
 * (session, user, time) lets JetStream drop a duplicate when a publish is retried.
 *
 * `consumeEvents` is the consumer side for an attendance backend: a durable pull consumer, each
 * event acknowledged after the handler resolved (at-least-once). Stranger events (`unknown`) go to
 * `onUnknown` when given, else they are acknowledged and skipped (a consumer written for
 * identifications only keeps working).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { type EventSink, FaceError, type IdentifiedEvent, type KioskEvent, KioskEventSchema, type UnknownEvent } from "../core/internal.ts";
import { encodeId } from "./keys.ts";
import { SUBJECT_PREFIX } from "./protocol.ts";

export interface NatsEventSinkOptions {
  nc: NatsConnection;
  /** Stream name (default FACEGATE_EVENTS). */
  stream?: string;
  /** Subject prefix (default facegate.v1): events go to `<prefix>.events.<company token>`. */
  subjectPrefix?: string;
  /** Retention in seconds (default 7 days; 0 = forever). */
  maxAgeSeconds?: number;
  replicas?: number;
}

export const eventSubject = (companyId: string, prefix = SUBJECT_PREFIX) => `${prefix}.events.${encodeId(companyId)}`;

/** Creates the events stream if it does not exist (an existing one is left as configured). */
export async function ensureEventStream(nc: NatsConnection, opts: Omit<NatsEventSinkOptions, "nc"> = {}): Promise<string> {
  const name = opts.stream ?? "FACEGATE_EVENTS";
  const prefix = opts.subjectPrefix ?? SUBJECT_PREFIX;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    try {
      await jsm.streams.add({
        name,
        subjects: [`${prefix}.events.>`],
        max_age: (opts.maxAgeSeconds ?? 7 * 86_400) * 1e9,
        num_replicas: opts.replicas ?? 1,
        duplicate_window: 120 * 1e9,
      });
    } catch (addError) {
      // Two processes starting together both saw no stream; the loser's add fails ("subjects overlap
      // with an existing stream", or another configuration). The stream exists now: use it.
      await jsm.streams.info(name).catch(() => {
        throw addError;
      });
    }
  }
  return name;
}

export class NatsEventSink implements EventSink {
  private readonly js: JetStreamClient;
  private readonly prefix: string;

  private constructor(nc: NatsConnection, prefix: string) {
    this.js = jetstream(nc);
    this.prefix = prefix;
  }

  static async create(opts: NatsEventSinkOptions): Promise<NatsEventSink> {
    await ensureEventStream(opts.nc, opts);
    return new NatsEventSink(opts.nc, opts.subjectPrefix ?? SUBJECT_PREFIX);
  }

  async publish(event: KioskEvent): Promise<void> {
    const parsed = KioskEventSchema.safeParse(event);
    if (!parsed.success) throw new FaceError("INVALID_ARGUMENT", `invalid event: ${parsed.error.message}`);
    const e = parsed.data;
    try {
      await this.js.publish(eventSubject(e.companyId, this.prefix), JSON.stringify(e), {
        msgID: `${e.sessionId}:${e.type === "identified" ? e.userId : "?unknown"}:${e.at}`,
      });
    } catch (err) {
      throw new FaceError("UNAVAILABLE", `cannot publish event: ${(err as Error).message}`, { cause: err });
    }
  }
}

export interface ConsumeEventsOptions {
  nc: NatsConnection;
  /** Durable consumer name: the stream remembers what it acknowledged across restarts. */
  durable: string;
  /** Only this company's events (default: all). */
  companyId?: string;
  stream?: string;
  subjectPrefix?: string;
  /** Where a new durable starts (default: all retained events). */
  deliver?: "all" | "new";
  handler: (event: IdentifiedEvent) => Promise<void> | void;
  /** Stranger events (`type: "unknown"`); without it they are acknowledged and skipped. */
  onUnknown?: (event: UnknownEvent) => Promise<void> | void;
  onError?: (err: unknown) => void;
}

/** Consumes events until the returned stop() is called. A handler that throws gets the event again later. */
export async function consumeEvents(opts: ConsumeEventsOptions): Promise<{ stop: () => Promise<void> }> {
  const stream = await ensureEventStream(opts.nc, opts);
  const prefix = opts.subjectPrefix ?? SUBJECT_PREFIX;
  const jsm = await jetstreamManager(opts.nc);
  const filter = opts.companyId === undefined ? `${prefix}.events.>` : eventSubject(opts.companyId, prefix);
  try {
    await jsm.consumers.info(stream, opts.durable);
  } catch {
    await jsm.consumers.add(stream, {
      durable_name: opts.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: opts.deliver === "new" ? DeliverPolicy.New : DeliverPolicy.All,
      filter_subject: filter,
      ack_wait: 30 * 1e9,
    });
  }
  const consumer = await jetstream(opts.nc).consumers.get(stream, opts.durable);
  const messages = await consumer.consume();
  const done = (async () => {
    for await (const m of messages) {
      try {
        const event = KioskEventSchema.parse(m.json());
        if (event.type === "identified") await opts.handler(event);
        else await opts.onUnknown?.(event);
        m.ack();
      } catch (err) {
        (opts.onError ?? ((e) => console.warn("[events] handler failed:", e)))(err);
        m.nak(1000);
      }
    }
  })();
  return {
    stop: async () => {
      await messages.close();
      await done;
    },
  };
}
