/**
 * Where the gateway's kiosk identifications go: in embedded mode an in-process LocalEventSink; with
 * NATS_URL a JetStream stream through lib/nats's NatsEventSink (own connection, opened at start in
 * the background, re-tried on the next event if it failed). lib/nats is imported only in that case.
 */
import { LocalEventSink, type EventSink, type IdentifiedEvent } from "../../lib/core/mod.ts";

type Env = Record<string, string | undefined>;
type Warn = (msg: string, fields?: Record<string, unknown>) => void;

const NATS_MODULE = "../../lib/nats/mod.ts";

interface NatsModule {
  loadNatsConfig(env: Env): {
    servers: string[] | string;
    user?: string;
    pass?: string;
    token?: string;
    eventsStream: string;
    eventsMaxAgeSeconds: number;
    subjectPrefix: string;
    /** NATS_KV_REPLICAS: the events stream gets as many replicas as the KV bucket. */
    replicas: number;
  };
  connectionOptions(c: object, name?: string): Record<string, unknown>;
  NatsEventSink: { create(opts: { nc: unknown; stream?: string; subjectPrefix?: string; maxAgeSeconds?: number; replicas?: number }): Promise<EventSink> };
}

/** A sink that connects lazily; publish waits for the connection (bounded by the NATS client's own timeouts). */
export class LazyNatsEventSink implements EventSink {
  private sink: Promise<EventSink> | null = null;
  private close_: (() => Promise<void>) | null = null;

  constructor(
    private readonly env: Env,
    private readonly warn: Warn = () => {},
  ) {
    void this.get().catch(() => {});
  }

  private get(): Promise<EventSink> {
    this.sink ??= (async () => {
      const nats = (await import(NATS_MODULE)) as NatsModule;
      const { connect } = await import("@nats-io/transport-node");
      const cfg = nats.loadNatsConfig(this.env);
      const nc = await connect(nats.connectionOptions(cfg, "facegate-kiosk-events"));
      this.close_ = () => nc.close();
      return nats.NatsEventSink.create({
        nc,
        stream: cfg.eventsStream,
        subjectPrefix: cfg.subjectPrefix,
        maxAgeSeconds: cfg.eventsMaxAgeSeconds,
        replicas: cfg.replicas,
      });
    })().catch((error: unknown) => {
      this.sink = null;
      this.warn("kiosk events: NATS sink unavailable", { error: String(error) });
      throw error;
    });
    return this.sink;
  }

  async publish(event: IdentifiedEvent): Promise<void> {
    await (await this.get()).publish(event);
  }

  async close(): Promise<void> {
    await this.close_?.();
  }
}

/** NATS_URL set → JetStream; otherwise in-process. */
export function eventSinkFromEnv(env: Env, warn?: Warn): EventSink {
  return env.NATS_URL?.trim() ? new LazyNatsEventSink(env, warn) : new LocalEventSink();
}
