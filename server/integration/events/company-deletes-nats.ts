/**
 * NATS mode's half of ./company-deletes.ts: a watch on the gallery bucket's company keys (updates
 * only: a gateway does not replay the gallery); a delete marker means the company was deleted.
 */
import { backoff, delay, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { decodeId } from "../../../lib/nats/mod.ts";
import { forget } from "./company-deletes.ts";
import type { Integration } from "../integration.ts";

type Warn = (msg: string, fields?: Record<string, unknown>) => void;

/**
 * NATS mode: deletes of `c.<company>` keys in the gallery bucket; returns the stop. The gateway may
 * start before any worker has created the bucket (or while JetStream elects a leader): the watch is
 * then opened in the background, retried with backoff, instead of failing the gateway's start.
 */
export async function forgetDeletedCompaniesNats(
  nc: NatsConnection,
  bucket: string,
  integration: Integration,
  warn?: Warn,
  /** Sharded installs: true when the company still lives elsewhere (the delete was a move's cleanup). */
  movedAway?: (companyId: string) => Promise<boolean>,
): Promise<() => void> {
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  const open = async () => {
    const kv = await new Kvm(jetstream(nc)).open(bucket);
    const watch = await kv.watch({ key: "c.>", include: KvWatchInclude.UpdatesOnly });
    if (stopped) return watch.stop();
    stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) {
        if (e.operation === "PUT") continue;
        let companyId: string;
        try {
          companyId = decodeId(e.key.slice(2));
        } catch {
          continue;
        }
        if (movedAway && (await movedAway(companyId))) continue;
        forget(integration, companyId, warn);
      }
    })().catch((error: unknown) => warn?.("events: company delete watch ended", { error: String(error) }));
  };
  try {
    await open();
  } catch (error) {
    warn?.("events: the gallery bucket is not there yet (no worker started?); watching for company deletes once it is", { bucket, error: String(error) });
    const policy = backoff([500, 1000, 2000, 5000]);
    void (async () => {
      for (let attempt = 0; !stopped && !nc.isClosed(); attempt++) {
        await delay(policy.backoff(attempt));
        try {
          await open();
          return;
        } catch {
          // not yet
        }
      }
    })();
  }
  return () => {
    stopped = true;
    stopWatch?.();
  };
}
