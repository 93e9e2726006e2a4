/**
 * NATS mode's half of ./company-deletes.ts: a watch on the gallery bucket's company keys (updates
 * only: a gateway does not replay the gallery); a delete marker means the company was deleted.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { decodeId } from "../../lib/nats/mod.ts";
import { forget } from "./company-deletes.ts";
import type { Integration } from "./integration.ts";

type Warn = (msg: string, fields?: Record<string, unknown>) => void;

/** NATS mode: deletes of `c.<company>` keys in the gallery bucket; returns the stop. */
export async function forgetDeletedCompaniesNats(nc: NatsConnection, bucket: string, integration: Integration, warn?: Warn): Promise<() => void> {
  const kv = await new Kvm(jetstream(nc)).open(bucket);
  const watch = await kv.watch({ key: "c.>", include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const e of watch) {
      if (e.operation === "PUT") continue;
      let companyId: string;
      try {
        companyId = decodeId(e.key.slice(2));
      } catch {
        continue;
      }
      forget(integration, companyId, warn);
    }
  })().catch((error: unknown) => warn?.("events: company delete watch ended", { error: String(error) }));
  return () => watch.stop();
}
