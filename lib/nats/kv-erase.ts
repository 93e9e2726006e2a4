/**
 * Erasure of face values (the embeddings: biometric templates) from the KV bucket's stream.
 *
 * A KV delete marker on a history-1 bucket removes the previous message from the stream, but the
 * server's file store only marks it deleted: the bytes stay in the block file until it is compacted.
 * JetStream's message delete with `erase` (STREAM.MSG.DELETE, no_erase false) overwrites the
 * message on disk with random bytes, so a face's value is erased that way BEFORE its marker is
 * written. Erasing succeeds exactly once per message, which makes it the atomic "who deleted it" test
 * for a single face as well.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { KvEntry } from "@nats-io/kv";

/** erased: overwritten now; gone: already removed (someone else deleted it); failed: not allowed or not possible. */
export type EraseOutcome = "erased" | "gone" | "failed";

export async function eraseEntry(
  jsm: JetStreamManager,
  stream: string,
  entry: KvEntry,
  warn: (message: string, cause?: unknown) => void,
): Promise<EraseOutcome> {
  try {
    return (await jsm.streams.deleteMessage(stream, entry.revision, true)) ? "erased" : "gone";
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return "gone";
    // e.g. an account without the STREAM.MSG.DELETE permission: the marker still removes it logically
    warn(`could not erase ${entry.key} (revision ${entry.revision}) from the stream; only its delete marker is written`, err);
    return "failed";
  }
}
