/**
 * KvGalleryStore: the GalleryStore contract over a NATS JetStream Key-Value bucket. This file
 * composes the parts, each in its own module:
 *
 * - kv-codec.ts: the value format (zod-checked) and entry → event mapping that keeps every
 *   listener's view a consistent tree (a put whose parent is absent becomes a delete).
 * - kv-watch.ts: the watch hand-over (replay from an own watcher, then one shared live watcher).
 * - kv-writes.ts: create-if-absent, delete markers with their revision, children-first cascades,
 *   parent re-checks, bulk load, and the bounded retry while a cluster elects a stream leader.
 * - kv-erase.ts: a face's value (embedding) is erased from the stream on disk before its marker.
 * - kv-housekeeping.ts: purging delete markers older than the retention (run here on a timer).
 *
 * Revision = the bucket stream's sequence number: strictly increasing, one per write.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { BulkLoad, BulkLoadOptions, CompanySettings, FaceRecord, GalleryStore, StoreEvent, UserProfile, WriteResult } from "../core/internal.ts";
import { DEFAULT_MARKER_RETENTION_MS } from "./config.ts";
import type { Warn } from "./kv-codec.ts";
import { purgeDeleteMarkers } from "./kv-housekeeping.ts";
import { KvWatchHub } from "./kv-watch.ts";
import { KvWriter, storeError } from "./kv-writes.ts";

export interface KvGalleryStoreOptions {
  nc: NatsConnection;
  /** Bucket name (NATS_KV_BUCKET, default "facegate"); created if absent. */
  bucket?: string;
  /** Replicas for a new bucket in a clustered JetStream (default 1). */
  replicas?: number;
  /** Per-operation JetStream timeout in ms (default 10 s). */
  timeoutMs?: number;
  /** Log sink for problems that cannot be thrown (bad values met while watching). */
  onWarning?: (message: string, cause?: unknown) => void;
  /**
   * Delete markers older than this are purged by the periodic housekeeping (default
   * NATS_KV_MARKER_RETENTION_MS, else 24 h; 0 = never purge). A watcher disconnected from NATS for
   * longer than this can miss a delete: keep it far above any plausible outage.
   */
  markerRetentionMs?: number;
  /** How often this store runs the housekeeping (default retention / 4, between 1 s and 1 h). */
  housekeepingIntervalMs?: number;
  /** How long a write retries while the bucket has no JetStream leader (default 8 s; see kv-writes.ts). */
  writeRetryMs?: number;
}

export class KvGalleryStore implements GalleryStore {
  readonly kind = "nats-kv";
  readonly bucket: string;
  private readonly kv: KV;
  private readonly js: JetStreamClient;
  private readonly hub: KvWatchHub;
  private readonly writes: KvWriter;
  private readonly warn: Warn;
  private closed = false;
  readonly markerRetentionMs: number;
  private housekeepingTimer: ReturnType<typeof setTimeout> | undefined;
  private housekeeping: Promise<unknown> | undefined;

  private constructor(kv: KV, js: JetStreamClient, bucket: string, opts: KvGalleryStoreOptions) {
    this.kv = kv;
    this.js = js;
    this.bucket = bucket;
    this.warn = opts.onWarning ?? ((message, cause) => console.warn(`[kv-store] ${message}`, cause ?? ""));
    this.hub = new KvWatchHub(kv, this.warn);
    this.writes = new KvWriter(kv, js, bucket, this.warn, opts.writeRetryMs);
    this.markerRetentionMs = opts.markerRetentionMs ?? DEFAULT_MARKER_RETENTION_MS;
    if (this.markerRetentionMs > 0) {
      const interval =
        opts.housekeepingIntervalMs ?? Math.min(3_600_000, Math.max(1000, Math.floor(this.markerRetentionMs / 4)));
      this.scheduleHousekeeping(interval);
    }
  }

  /** Each worker runs it on its own timer; the purge is idempotent, so overlapping runs are harmless. */
  private scheduleHousekeeping(intervalMs: number): void {
    // Jitter so workers started together do not all purge at the same moment.
    const delay = Math.floor(intervalMs * (0.75 + Math.random() * 0.5));
    this.housekeepingTimer = setTimeout(() => {
      if (this.closed) return;
      this.housekeeping = this.purgeDeleteMarkers()
        .catch((err) => this.warn("KV marker housekeeping failed (will retry)", err))
        .finally(() => {
          this.housekeeping = undefined;
          if (!this.closed) this.scheduleHousekeeping(intervalMs);
        });
    }, delay);
    this.housekeepingTimer.unref?.();
  }

  /** Purges delete markers older than `olderThanMs` (default: the store's retention); see kv-housekeeping.ts. */
  async purgeDeleteMarkers(olderThanMs: number = this.markerRetentionMs): Promise<{ purged: number; kept: number }> {
    try {
      return await purgeDeleteMarkers(this.js, this.kv, this.bucket, olderThanMs);
    } catch (err) {
      throw storeError("purge delete markers", err);
    }
  }

  /** Opens (creating if absent) the bucket. The connection stays the caller's. */
  static async open(opts: KvGalleryStoreOptions): Promise<KvGalleryStore> {
    const bucket = opts.bucket ?? "facegate";
    const timeout = opts.timeoutMs ?? 10_000;
    const js = jetstream(opts.nc, { timeout });
    const kvm = new Kvm(js);
    try {
      const kv = await kvm.create(bucket, { history: 1, replicas: opts.replicas ?? 1, timeout });
      return new KvGalleryStore(kv, js, bucket, opts);
    } catch (err) {
      throw storeError(`open bucket ${bucket}`, err);
    }
  }

  // ------------------------------------------------------------------ reads

  async revision(): Promise<number> {
    try {
      const status = await this.kv.status();
      return status.streamInfo.state.last_seq;
    } catch (err) {
      throw storeError("revision", err);
    }
  }

  /** Replay, then every change in order (kv-watch.ts). */
  watch(listener: (event: StoreEvent) => void): Promise<() => void> {
    return this.hub.watch(listener);
  }

  // ------------------------------------------------------------------ writes (kv-writes.ts)

  setCompanySettings(companyId: string, settings: CompanySettings | null): Promise<WriteResult> {
    return this.writes.setCompanySettings(companyId, settings);
  }

  createCompany(companyId: string): Promise<WriteResult & { created: boolean }> {
    return this.writes.createCompany(companyId);
  }
  deleteCompany(companyId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.writes.deleteCompany(companyId);
  }
  createUser(companyId: string, userId: string, profile?: UserProfile): Promise<WriteResult & { created: boolean }> {
    return this.writes.createUser(companyId, userId, profile);
  }
  updateUser(companyId: string, userId: string, profile: UserProfile | undefined): Promise<WriteResult> {
    return this.writes.updateUser(companyId, userId, profile);
  }
  deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.writes.deleteUser(companyId, userId);
  }
  addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }> {
    return this.writes.addFace(face);
  }
  deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.writes.deleteFace(companyId, userId, faceId);
  }
  isInitialised(): Promise<boolean> {
    return this.writes.isInitialised();
  }
  bulkLoad(data: BulkLoad, options: BulkLoadOptions = {}): Promise<WriteResult & { companies: number; users: number; faces: number }> {
    return this.writes.bulkLoad(data, options);
  }

  /** Stops every watcher and the housekeeping. The NATS connection belongs to the caller. */
  close(): void {
    this.closed = true;
    clearTimeout(this.housekeepingTimer);
    this.hub.close();
  }
}
