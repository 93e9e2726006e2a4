/**
 * Idempotency-Key on writes (POST, PUT, DELETE): the client's key, checked (1-255 visible ASCII
 * characters, else 400 INVALID_IDEMPOTENCY_KEY), or one made here when absent, so that the
 * gateway's own retries of the write (over NATS) are answered as the first attempt was. The key is
 * echoed in the answer's `Idempotency-Key` header: a client that sent none can retry with it.
 * The route passes it on in `CallOptions.idempotencyKey` (lib/service/idempotency.ts keeps the answers).
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { FaceError, IdempotencyKeySchema } from "../../../lib/core/mod.ts";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";

/** The request's key (a fresh one when it has none), set on the answer too; 400 when malformed. */
export function idempotencyKey(c: Context): string {
  const given = c.req.header(IDEMPOTENCY_HEADER);
  let key: string;
  if (given === undefined) key = randomUUID();
  else {
    const parsed = IdempotencyKeySchema.safeParse(given);
    if (!parsed.success) {
      throw new FaceError("INVALID_IDEMPOTENCY_KEY", `${IDEMPOTENCY_HEADER}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    }
    key = parsed.data;
  }
  c.header(IDEMPOTENCY_HEADER, key);
  return key;
}
