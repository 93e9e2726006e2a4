/**
 * Housekeeping of the gallery bucket: delete markers pile up forever otherwise (ids of deleted
 * users and faces are never reused), and every starting worker replays them. nats-server 2.9 has
 * no marker TTL (2.11+), and the library's `purgeDeletes` can drop a key re-created during its run,
 * so markers are purged one key at a time, bounded by the marker's own sequence.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";

/**
 * Purges delete markers older than `olderThanMs`. Each purge is limited to the marker's subject and
 * to sequences below marker + 1, so a put written after the marker (the key re-created) survives
 * even if it lands between the listing and the purge.
 */
export async function purgeDeleteMarkers(
  js: JetStreamClient,
  kv: KV,
  bucket: string,
  olderThanMs: number,
): Promise<{ purged: number; kept: number }> {
  const jsm = await js.jetstreamManager();
  const stream = `KV_${bucket}`;
  const cutoff = Date.now() - olderThanMs;
  const old: KvEntry[] = [];
  let kept = 0;
  // history 1: the history is the last entry per key; headers only, values are not needed.
  // `headers_only` is honoured by the library but missing from its option type.
  const iter = await kv.history({ key: ">", headers_only: true } as { key: string });
  for await (const e of iter) {
    if (e.operation === "PUT") continue;
    if (e.created.getTime() <= cutoff) old.push(e);
    else kept++;
  }
  let purged = 0;
  for (let i = 0; i < old.length; i += 256) {
    const results = await Promise.all(
      old.slice(i, i + 256).map((e) => jsm.streams.purge(stream, { filter: `$KV.${bucket}.${e.key}`, seq: e.revision + 1 })),
    );
    for (const r of results) purged += r.purged;
  }
  return { purged, kept };
}
