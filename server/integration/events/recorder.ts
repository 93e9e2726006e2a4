/**
 * EventRecorder: the one way events enter the log (kiosk identifications and stranger events, and
 * recognize calls with `record: true`). It fills in the default threshold, counts events for /metrics and wakes the
 * webhook deliverer, so a recorded event goes out without waiting for the next poll.
 */
import type { EventLog, EventRecord, EventSink, KioskEvent, NewEvent } from "../../../lib/core/mod.ts";
import type { MetricFamily } from "../../observe/metrics.ts";

export interface EventRecorderOptions {
  log: EventLog;
  /** The threshold recorded when a producer did not say (the service's FACE_RECOGNITION_THRESHOLD). */
  defaultThreshold?: (companyId: string) => number | null;
  /** Called after each recorded event (the webhook deliverer's kick). */
  onRecorded?: (event: EventRecord) => void;
  warn?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class EventRecorder {
  readonly log: EventLog;
  private readonly bySource = new Map<string, number>();
  private failures = 0;

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = opts.log;
  }

  async record(event: NewEvent): Promise<EventRecord> {
    const threshold = event.threshold ?? this.opts.defaultThreshold?.(event.companyId) ?? null;
    let record: EventRecord;
    try {
      record = await this.log.append({ ...event, threshold });
    } catch (error) {
      this.failures++;
      throw error;
    }
    const source = record.source === "kiosk" || record.source === "api" ? record.source : "other";
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    this.opts.onRecorded?.(record);
    return record;
  }

  /** The kiosk's sink: each identification or stranger becomes an event (source "kiosk"). */
  sink(): EventSink {
    return {
      publish: async (e: KioskEvent) => {
        await this.record(fromKioskEvent(e));
      },
    };
  }

  metrics(): MetricFamily[] {
    return [
      {
        name: "facegate_events_recorded_total",
        help: "Events recorded in the event log, by source (kiosk, api, other).",
        type: "counter",
        values: ["kiosk", "api", "other"].map((source) => ({ labels: { source }, value: this.bySource.get(source) ?? 0 })),
      },
      { name: "facegate_events_record_failures_total", help: "Events the log refused or could not store.", type: "counter", values: [{ value: this.failures }] },
    ];
  }
}

export function fromKioskEvent(e: KioskEvent): NewEvent {
  return {
    type: e.type,
    companyId: e.companyId,
    userId: e.type === "identified" ? e.userId : null,
    ...(e.type === "identified" && e.name !== undefined ? { name: e.name } : {}),
    confidence: e.confidence,
    threshold: e.threshold ?? null,
    kioskId: e.kioskId ?? null,
    source: "kiosk",
    frames: e.frames ?? null,
    sessionId: e.sessionId,
    ...(e.liveness !== undefined ? { liveness: e.liveness } : {}),
  };
}
