/**
 * Idempotency records: what a write's Idempotency-Key remembers (lib/service/idempotency.ts runs
 * the protocol; lib/nats/idempotency.ts keeps the records in a JetStream KV bucket with a TTL).
 *
 * A key's record is created as `pending` (an atomic create: of two concurrent duplicates one wins
 * and runs, the other waits), then replaced by `done` with the first answer, success or FaceError.
 * Replacements are compare-and-set on the record's revision, so a waiter that takes over from a
 * dead owner and the owner itself cannot both store an answer.
 */
import { z } from "zod";

/** The first answer: a result, or a FaceError's wire form. */
export const StoredAnswerSchema = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) }),
]);
export type StoredAnswer = z.infer<typeof StoredAnswerSchema>;

export const IdempotencyRecordSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("pending"),
    /** Hash of the operation's arguments: the same key with other arguments is refused. */
    hash: z.string(),
    /** Who runs it (a worker id, or this process in embedded mode). */
    owner: z.string(),
    /** Epoch ms after which a waiter may take over (the owner's deadline and a margin). 0: the outcome is unknown now. */
    leaseUntil: z.number(),
    /** Whether the write's target (company, user, face) existed before the first attempt ran. */
    existedBefore: z.boolean().optional(),
  }),
  z.object({ state: z.literal("done"), hash: z.string(), answer: StoredAnswerSchema, at: z.number() }),
]);
export type IdempotencyRecord = z.infer<typeof IdempotencyRecordSchema>;

export interface VersionedRecord {
  record: IdempotencyRecord;
  revision: number;
}

export interface IdempotencyStore {
  /** Records are forgotten this long after their last write. */
  readonly ttlMs: number;
  /** Creates the record if the key has none: its revision; else the record there (null result: created). */
  create(key: string, record: IdempotencyRecord): Promise<{ created: true; revision: number } | { created: false; current: VersionedRecord }>;
  get(key: string): Promise<VersionedRecord | null>;
  /** Replaces the record if it is still at `revision`: the new revision, or null when someone else changed it. */
  update(key: string, record: IdempotencyRecord, revision: number): Promise<number | null>;
  /** Whether the owner of a pending record still runs (a worker that answers a ping; embedded: this process). */
  ownerAlive(owner: string): Promise<boolean>;
}

export interface MemoryIdempotencyStoreOptions {
  ttlMs?: number;
  /** At most this many keys; the oldest are forgotten first (default 100 000). */
  maxKeys?: number;
  now?: () => number;
}

/**
 * Embedded mode: one process, so its records live in memory, bounded in count and age. A restart
 * forgets them (a retry across a restart runs again); the gallery's SQLite file does not hold them
 * because a record written outside the gallery write's transaction gains nothing over memory.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly ttlMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly records = new Map<string, { record: IdempotencyRecord; revision: number; at: number }>();
  private revision = 0;

  constructor(opts: MemoryIdempotencyStoreOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 24 * 60 * 60 * 1000;
    this.maxKeys = Math.max(1, opts.maxKeys ?? 100_000);
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.records.size;
  }

  private live(key: string) {
    const e = this.records.get(key);
    if (e && this.now() - e.at >= this.ttlMs) {
      this.records.delete(key);
      return undefined;
    }
    return e;
  }

  private put(key: string, record: IdempotencyRecord): number {
    this.records.delete(key); // re-inserted last: the Map's order is oldest write first
    const revision = ++this.revision;
    this.records.set(key, { record, revision, at: this.now() });
    while (this.records.size > this.maxKeys) this.records.delete(this.records.keys().next().value as string);
    return revision;
  }

  async create(key: string, record: IdempotencyRecord) {
    const e = this.live(key);
    if (e) return { created: false as const, current: { record: e.record, revision: e.revision } };
    return { created: true as const, revision: this.put(key, record) };
  }

  async get(key: string): Promise<VersionedRecord | null> {
    const e = this.live(key);
    return e ? { record: e.record, revision: e.revision } : null;
  }

  async update(key: string, record: IdempotencyRecord, revision: number): Promise<number | null> {
    const e = this.live(key);
    if (!e || e.revision !== revision) return null;
    return this.put(key, record);
  }

  async ownerAlive(): Promise<boolean> {
    return true;
  }
}
