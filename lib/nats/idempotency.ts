/**
 * KvIdempotencyStore: idempotency records (lib/core/idempotency.ts) in their own JetStream KV
 * bucket (NATS_IDEMPOTENCY_BUCKET, default "facegate-idempotency"), with the bucket's max age as
 * the records' TTL (NATS_IDEMPOTENCY_TTL_MS, default 24 h) and the gallery's replicas, so every
 * worker sees every record and a node's loss loses none.
 *
 * - create = `kv.create` (atomic across workers: of two duplicates one owns the key).
 * - update = `kv.update` with the expected revision (compare-and-set).
 * - ownerAlive: a ping on the owner's direct subject (`<prefix>.w.<worker>.ping`, answered by the
 *   worker's NATS thread, not its engine queue); no answer within a second counts as gone.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { errors as natsErrors } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { IdempotencyRecordSchema, type IdempotencyRecord, type IdempotencyStore, type VersionedRecord } from "../core/internal.ts";
import { directPrefix, PING_OPERATION, SUBJECT_PREFIX } from "./protocol.ts";
import { isWrongLastSequence, retryWhileNoLeader, storeError } from "./kv-writes.ts";

export const DEFAULT_IDEMPOTENCY_BUCKET = "facegate-idempotency";
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface KvIdempotencyStoreOptions {
  nc: NatsConnection;
  bucket?: string;
  ttlMs?: number;
  replicas?: number;
  subjectPrefix?: string;
  /** Per-operation budget while the bucket has no leader (default 8 s). */
  writeRetryMs?: number;
  /** How long a ping waits for the owner (default 1000 ms). */
  pingTimeoutMs?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class KvIdempotencyStore implements IdempotencyStore {
  readonly ttlMs: number;
  readonly bucket: string;
  private readonly alive = new Map<string, { at: number; value: Promise<boolean> }>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    bucket: string,
    ttlMs: number,
    private readonly prefix: string,
    private readonly writeRetryMs: number,
    private readonly pingTimeoutMs: number,
  ) {
    this.bucket = bucket;
    this.ttlMs = ttlMs;
  }

  static async open(opts: KvIdempotencyStoreOptions): Promise<KvIdempotencyStore> {
    const bucket = opts.bucket ?? DEFAULT_IDEMPOTENCY_BUCKET;
    const ttlMs = opts.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    try {
      const kv = await new Kvm(jetstream(opts.nc, { timeout: 10_000 })).create(bucket, {
        history: 1,
        replicas: opts.replicas ?? 1,
        ttl: ttlMs,
      });
      return new KvIdempotencyStore(opts.nc, kv, bucket, ttlMs, opts.subjectPrefix ?? SUBJECT_PREFIX, opts.writeRetryMs ?? 8000, opts.pingTimeoutMs ?? 1000);
    } catch (err) {
      throw storeError(`open bucket ${bucket}`, err);
    }
  }

  private retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    return retryWhileNoLeader(this.bucket, this.writeRetryMs, what, op);
  }

  async create(key: string, record: IdempotencyRecord) {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const revision = await this.retrying(`create ${key}`, () => this.kv.create(key, enc.encode(JSON.stringify(record))));
        return { created: true as const, revision };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw storeError(`create ${key}`, err);
      }
      const current = await this.get(key);
      if (current) return { created: false as const, current };
      // Expired or purged between the create and the get: try again.
    }
    throw storeError(`create ${key}`, new Error("too much contention"));
  }

  async get(key: string): Promise<VersionedRecord | null> {
    let entry;
    try {
      entry = await this.retrying(`get ${key}`, () => this.kv.get(key));
    } catch (err) {
      throw storeError(`get ${key}`, err);
    }
    if (!entry || entry.operation !== "PUT" || entry.value.byteLength === 0) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(dec.decode(entry.value));
    } catch {
      return null;
    }
    const parsed = IdempotencyRecordSchema.safeParse(raw);
    return parsed.success ? { record: parsed.data, revision: entry.revision } : null;
  }

  async update(key: string, record: IdempotencyRecord, revision: number): Promise<number | null> {
    try {
      return await this.retrying(`update ${key}`, () => this.kv.update(key, enc.encode(JSON.stringify(record)), revision));
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw storeError(`update ${key}`, err);
    }
  }

  /** Answers from a one-second cache: waiters ask on every poll. */
  ownerAlive(owner: string): Promise<boolean> {
    const now = Date.now();
    const cached = this.alive.get(owner);
    if (cached && now - cached.at < 1000) return cached.value;
    const value = this.ping(owner);
    this.alive.set(owner, { at: now, value });
    if (this.alive.size > 1000) this.alive.delete(this.alive.keys().next().value as string);
    return value;
  }

  private async ping(owner: string): Promise<boolean> {
    try {
      await this.nc.request(`${directPrefix(owner, this.prefix)}.${PING_OPERATION}`, undefined, { timeout: this.pingTimeoutMs });
      return true;
    } catch (err) {
      if (err instanceof natsErrors.NoRespondersError || err instanceof natsErrors.TimeoutError) return false;
      if (err instanceof natsErrors.RequestError) return false;
      // Our own connection is down: we cannot tell, so the owner keeps its lease.
      return true;
    }
  }
}
