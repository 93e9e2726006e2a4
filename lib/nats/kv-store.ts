/**
 * KvGalleryStore: the GalleryStore contract over a NATS JetStream Key-Value bucket.
 *
 * - Revision = the bucket stream's sequence number: strictly increasing, one per write.
 * - create-if-absent = `kv.create` (expected-last-subject-sequence 0 on the server), so "user
 *   already exists" is atomic across every worker.
 * - Deletes are KV delete markers published through JetStream directly, so the write's sequence
 *   (its revision) comes back; the parent's marker carries the expected last sequence, so two
 *   concurrent deletes of one key give exactly one `deleted: true`.
 * - Erasure: a face's value (its embedding) is erased from the stream on disk before its delete
 *   marker is written (kv-erase.ts); for a single face the successful erase is the atomic test of who
 *   deleted it.
 * - Cascade order: children first (faces, then users, then the company). At every instant the
 *   bucket is a tree (no face without its user, no user without its company), so a worker that
 *   replays the bucket mid-cascade never sees an orphan. After the parent's marker the children
 *   are listed again and stragglers (written concurrently by another worker) are deleted;
 *   `addFace` / `createUser` re-check their parent after writing and roll back if it vanished.
 *   Between those two steps a watcher could see a transient orphan: the watch rewrites any put
 *   whose parent is absent into a delete of that key (a no-op for the gallery that still advances
 *   its revision), so listeners only ever see a consistent tree.
 * - Watch = a KV watcher with the last value per key (the replay: puts in revision order, then a
 *   `sync` event at the revision of the last entry, delete markers included, so the listener's
 *   revision ends at the bucket's), then every change in order from one live watcher shared by
 *   all listeners of the store (see watch()). Watchers are ordered consumers: they survive
 *   reconnects and server restarts and resume after the last sequence they delivered.
 * - Housekeeping: with history 1 each deleted key leaves exactly one delete marker, and nats-server
 *   2.9 has no marker TTL (2.11+), so markers of deleted faces/users would pile up and be replayed
 *   by every worker forever. `purgeDeleteMarkers()` removes markers older than the retention
 *   (NATS_KV_MARKER_RETENTION_MS, default 24 h), each worker runs it periodically (idempotent). A
 *   marker is purged with `seq: marker + 1` on its subject only, so a key re-created after the
 *   delete is never lost (the library's `kv.purgeDeletes` uses `keep: 0`, which would be).
 */
import { Buffer } from "node:buffer";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude, type KV, type KvEntry } from "@nats-io/kv";
import { z } from "zod";
import { FaceError } from "../core/errors.ts";
import { DEFAULT_MARKER_RETENTION_MS } from "./config.ts";
import { eraseEntry, type EraseOutcome } from "./kv-erase.ts";
import { purgeDeleteMarkers } from "./kv-housekeeping.ts";
import { companyNotFound, userNotFound, type BulkLoad, type BulkLoadOptions, type FaceRecord, type GalleryStore, type StoreEvent, type WriteResult } from "../core/store.ts";
import {
  companyKey,
  faceKey,
  facesOfCompany,
  facesOfUser,
  metaKey,
  parseKey,
  userKey,
  usersOfCompany,
} from "./keys.ts";

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
}

const CompanyValueSchema = z.object({ companyId: z.string() });
const UserValueSchema = z.object({ companyId: z.string(), userId: z.string() });
const FaceValueSchema = z.object({
  companyId: z.string(),
  userId: z.string(),
  faceId: z.string(),
  model: z.string().min(1),
  dim: z.number().int().positive(),
  /** Little-endian float32, base64. */
  embedding: z.string(),
});

/** The marker key written with the initial data (`m.initialised`). */
const INITIALISED = "initialised";

const isFaceKey = (key: string) => key.startsWith("f.");

const enc = new TextEncoder();
const json = (value: unknown) => enc.encode(JSON.stringify(value));

function encodeEmbedding(embedding: Float32Array): string {
  return Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength).toString("base64");
}

function decodeEmbedding(b64: string, dim: number): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  if (bytes.byteLength !== dim * 4) throw new Error(`embedding has ${bytes.byteLength} bytes, expected ${dim * 4}`);
  const out = new Float32Array(dim);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function storeError(op: string, err: unknown): FaceError {
  if (err instanceof FaceError) return err;
  return new FaceError("UNAVAILABLE", `KV store ${op} failed: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

type Tree = { companies: Set<string>; users: Set<string> };
/** One watch() listener: its own tree view and the last revision it was given. */
type Sub = { listener: (event: StoreEvent) => void; tree: Tree; last: number; stopped: boolean };
type Shared = { last: number; subs: Set<Sub>; stop: () => void };
const userTreeKey = (c: string, u: string) => `${c}\u0000${u}`;

export class KvGalleryStore implements GalleryStore {
  readonly kind = "nats-kv";
  readonly bucket: string;
  private readonly kv: KV;
  private readonly js: JetStreamClient;
  private readonly stops = new Set<() => void>();
  private shared: Promise<Shared> | undefined;
  private readonly warn: (message: string, cause?: unknown) => void;
  private closed = false;
  readonly markerRetentionMs: number;
  private housekeepingTimer: ReturnType<typeof setTimeout> | undefined;
  private housekeeping: Promise<unknown> | undefined;
  private jsm: Promise<JetStreamManager> | undefined;

  private constructor(kv: KV, js: JetStreamClient, bucket: string, opts: KvGalleryStoreOptions) {
    this.kv = kv;
    this.js = js;
    this.bucket = bucket;
    this.warn = opts.onWarning ?? ((message, cause) => console.warn(`[kv-store] ${message}`, cause ?? ""));
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

  /**
   * One live watcher per store (updates only) fans out to every attached listener in the same
   * turn, so all listeners of a store see a change together. A new listener first gets its replay
   * from a watcher of its own (last value per key), which keeps delivering live changes until the
   * listener has caught up with the shared one; then it is attached and its own watcher stops.
   * Each listener drops anything at or below the last revision it got, so the hand-over never
   * repeats or reorders an event.
   */
  async watch(listener: (event: StoreEvent) => void): Promise<() => void> {
    if (this.closed) throw new FaceError("UNAVAILABLE", "KV store is closed");
    const shared = await this.sharedWatcher();
    let initialMessages: number;
    let initialSeq: number;
    try {
      const state = (await this.kv.status()).streamInfo.state;
      initialMessages = state.messages;
      initialSeq = state.last_seq;
    } catch (err) {
      throw storeError("watch", err);
    }
    const iter = await this.kv.watch({ key: ">" }).catch((err) => {
      throw storeError("watch", err);
    });
    const sub: Sub = { listener, tree: { companies: new Set(), users: new Set() }, last: 0, stopped: false };
    let replayDone!: () => void;
    const replayed = new Promise<void>((resolve) => (replayDone = resolve));
    // The housekeeping of another worker may purge markers between status() and the watcher's
    // creation: what counts is what the watcher's consumer saw, or it would wait for an entry
    // that never comes.
    let replaying = initialMessages > 0 && (await consumerPending(iter, initialMessages)) > 0;
    const tryAttach = () => {
      if (replaying || sub.stopped || sub.last < shared.last) return;
      shared.subs.add(sub);
      iter.stop();
    };
    const stop = () => {
      if (sub.stopped) return;
      sub.stopped = true;
      shared.subs.delete(sub);
      this.stops.delete(stop);
      iter.stop();
      replayDone();
    };
    this.stops.add(stop);
    if (!replaying) {
      // Empty bucket (possibly purged): nothing to replay, but the revision may be past 0.
      if (initialSeq > 0) this.emit(sub, { revision: initialSeq, type: "sync" });
      sub.last = Math.max(sub.last, initialSeq);
      replayDone();
      tryAttach();
    }
    void (async () => {
      try {
        for await (const entry of iter) {
          if (sub.stopped || shared.subs.has(sub)) break;
          // The replay is the current state as puts: delete markers only shape the tree there.
          // A marker newer than the state read at the start is a live delete, so it is delivered.
          this.deliver(sub, entry, replaying && entry.revision <= initialSeq);
          // The library marks the last entry of the initial snapshot (and all later ones) as
          // updates; `delta` 0 (caught up) ends it too when a purge shrank the snapshot meanwhile.
          if (replaying && (entry.isUpdate || entry.delta === 0)) {
            replaying = false;
            // Purged markers may have held the highest revisions; the bucket is still at initialSeq
            // (nothing between the last entry and it remains), so the listener's revision ends there.
            const revision = Math.max(entry.revision, initialSeq);
            sub.last = Math.max(sub.last, revision);
            this.emit(sub, { revision, type: "sync" });
            replayDone();
          }
          tryAttach();
        }
      } catch (err) {
        if (!sub.stopped) this.warn("KV watch ended with an error", err);
      } finally {
        replayDone();
      }
    })();
    await replayed;
    return stop;
  }

  private sharedWatcher(): Promise<Shared> {
    this.shared ??= (async () => {
      const iter = await this.kv.watch({ key: ">", include: KvWatchInclude.UpdatesOnly }).catch((err) => {
        this.shared = undefined;
        throw storeError("watch", err);
      });
      const shared: Shared = { last: 0, subs: new Set(), stop: () => iter.stop() };
      void (async () => {
        try {
          for await (const entry of iter) {
            shared.last = entry.revision;
            for (const sub of [...shared.subs]) this.deliver(sub, entry, false);
          }
        } catch (err) {
          if (!this.closed) this.warn("shared KV watch ended with an error", err);
        }
      })();
      return shared;
    })();
    return this.shared;
  }

  private deliver(sub: Sub, entry: KvEntry, replaying: boolean): void {
    if (sub.stopped || entry.revision <= sub.last) return;
    sub.last = entry.revision;
    const event = this.toEvent(entry, sub.tree);
    if (event && !(replaying && event.type.endsWith(".delete"))) this.emit(sub, event);
  }

  private emit(sub: Sub, event: StoreEvent): void {
    try {
      sub.listener(event);
    } catch (err) {
      this.warn(`watch listener threw on revision ${event.revision}`, err);
    }
  }

  /** Turns a KV entry into a store event, keeping the listener's view a consistent tree. */
  private toEvent(entry: KvEntry, tree: Tree): StoreEvent | null {
    const parsed = parseKey(entry.key);
    if (!parsed) {
      this.warn(`ignoring foreign key ${entry.key} at revision ${entry.revision}`);
      return null;
    }
    const revision = entry.revision;
    const deleted = entry.operation !== "PUT";
    switch (parsed.kind) {
      case "meta":
        // store metadata (the initialised marker): no gallery change, but the revision is passed
        return { revision, type: "sync" };
      case "company": {
        const { companyId } = parsed;
        if (deleted) {
          tree.companies.delete(companyId);
          return { revision, type: "company.delete", companyId };
        }
        tree.companies.add(companyId);
        return { revision, type: "company.put", companyId };
      }
      case "user": {
        const { companyId, userId } = parsed;
        const k = userTreeKey(companyId, userId);
        if (deleted || !tree.companies.has(companyId)) {
          tree.users.delete(k);
          return { revision, type: "user.delete", companyId, userId };
        }
        tree.users.add(k);
        return { revision, type: "user.put", companyId, userId };
      }
      case "face": {
        const { companyId, userId, faceId } = parsed;
        const asDelete = { revision, type: "face.delete", companyId, userId, faceId } as const;
        if (deleted || !tree.users.has(userTreeKey(companyId, userId))) return asDelete;
        const value = FaceValueSchema.safeParse(safeJson(entry));
        if (!value.success) {
          this.warn(`invalid face value at ${entry.key} revision ${revision}: ${value.error.message}`);
          return asDelete;
        }
        try {
          const embedding = decodeEmbedding(value.data.embedding, value.data.dim);
          return { revision, type: "face.put", face: { companyId, userId, faceId, embedding, model: value.data.model } };
        } catch (err) {
          this.warn(`invalid embedding at ${entry.key} revision ${revision}`, err);
          return asDelete;
        }
      }
    }
  }

  // ------------------------------------------------------------------ writes

  /** create-if-absent; on an existing key returns its revision (the one the gallery must reach). */
  private async createKey(key: string, value: Uint8Array): Promise<WriteResult & { created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const revision = await this.kv.create(key, value);
        return { revision, created: true };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw storeError(`create ${key}`, err);
      }
      const existing = await this.get(key);
      if (existing && existing.operation === "PUT") return { revision: existing.revision, created: false };
      // Deleted between our create and get: try again.
    }
    throw new FaceError("UNAVAILABLE", `KV store create ${key}: too much contention`);
  }

  private async get(key: string): Promise<KvEntry | null> {
    try {
      return await this.kv.get(key);
    } catch (err) {
      throw storeError(`get ${key}`, err);
    }
  }

  /** Publishes a delete marker; returns its revision. `expected`: fail unless the key is at this revision. */
  private async deleteMarker(key: string, expected?: number): Promise<number> {
    const h = headers();
    h.set("KV-Operation", "DEL");
    if (expected !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(expected));
    const pa = await this.js.publish(`$KV.${this.bucket}.${key}`, undefined, { headers: h });
    return pa.seq;
  }

  private async listKeys(filter: string): Promise<string[]> {
    const out: string[] = [];
    const iter = await this.kv.keys(filter);
    for await (const k of iter) out.push(k);
    return out;
  }

  /** Deletes every key under the filters, in filter order; returns the last revision (0 if none). */
  private async deleteAll(filters: string[]): Promise<number> {
    let last = 0;
    for (const filter of filters) {
      const keys = await this.listKeys(filter);
      for (let i = 0; i < keys.length; i += 256) {
        const seqs = await Promise.all(keys.slice(i, i + 256).map(async (k) => {
          if (isFaceKey(k)) await this.erase(k);
          return this.deleteMarker(k);
        }));
        last = Math.max(last, ...seqs);
      }
    }
    return last;
  }

  /**
   * Children first, then the parent (conditional on the revision we read, so a concurrent delete
   * makes exactly one caller see `deleted: true`), then stragglers written meanwhile.
   */
  private async cascadeDelete(parent: string, children: string[]): Promise<WriteResult & { deleted: boolean }> {
    try {
      const entry = await this.get(parent);
      if (!entry || entry.operation !== "PUT") return { deleted: false, revision: entry?.revision ?? 0 };
      if (isFaceKey(parent)) {
        // a face: its value is erased first (see kv-erase.ts); the erase that succeeds is the delete that counts
        const erased = await this.erase(parent, entry);
        if (erased === "gone") return { deleted: false, revision: (await this.get(parent))?.revision ?? entry.revision };
        if (erased === "erased") return { deleted: true, revision: await this.deleteMarker(parent) };
      }
      let revision = await this.deleteAll(children);
      try {
        revision = Math.max(revision, await this.deleteMarker(parent, entry.revision));
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // Someone else deleted it first; their cascade (and ours above) removed the children.
        return { deleted: false, revision: Math.max(revision, (await this.get(parent))?.revision ?? 0) };
      }
      revision = Math.max(revision, await this.deleteAll(children));
      return { deleted: true, revision };
    } catch (err) {
      throw storeError(`delete ${parent}`, err);
    }
  }

  /** Erases the face value at `key` (its current entry unless given) from the stream on disk. */
  private async erase(key: string, entry?: KvEntry | null): Promise<EraseOutcome> {
    const current = entry ?? (await this.get(key));
    if (!current || current.operation !== "PUT") return "gone";
    this.jsm ??= this.js.jetstreamManager();
    return eraseEntry(await this.jsm, `KV_${this.bucket}`, current, this.warn);
  }

  /** After creating a child: if its parent vanished meanwhile, roll the child back and fail. */
  private async ensureParent(
    parent: string,
    child: string,
    result: WriteResult & { created: boolean },
    error: () => FaceError | Promise<FaceError>,
  ): Promise<WriteResult & { created: boolean }> {
    if (await this.exists(parent)) return result;
    if (result.created) await this.deleteMarker(child).catch(() => undefined);
    throw await error();
  }

  private async exists(key: string): Promise<boolean> {
    const entry = await this.get(key);
    return entry !== null && entry.operation === "PUT";
  }

  async createCompany(companyId: string): Promise<WriteResult & { created: boolean }> {
    return this.createKey(companyKey(companyId), json({ companyId }));
  }

  async deleteCompany(companyId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.cascadeDelete(companyKey(companyId), [facesOfCompany(companyId), usersOfCompany(companyId)]);
  }

  async createUser(companyId: string, userId: string): Promise<WriteResult & { created: boolean }> {
    const key = userKey(companyId, userId);
    const result = await this.createKey(key, json({ companyId, userId }));
    return this.ensureParent(companyKey(companyId), key, result, () => companyNotFound(companyId));
  }

  async deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.cascadeDelete(userKey(companyId, userId), [facesOfUser(companyId, userId)]);
  }

  async addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }> {
    const { companyId, userId, faceId, embedding, model } = face;
    const key = faceKey(companyId, userId, faceId);
    const value = json({ companyId, userId, faceId, model, dim: embedding.length, embedding: encodeEmbedding(embedding) });
    const result = await this.createKey(key, value);
    // the user is deleted before its company (children first), so a missing user may mean either
    return this.ensureParent(userKey(companyId, userId), key, result, async () =>
      (await this.exists(companyKey(companyId))) ? userNotFound(companyId, userId) : companyNotFound(companyId),
    );
  }

  async deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.cascadeDelete(faceKey(companyId, userId, faceId), []);
  }

  async isInitialised(): Promise<boolean> {
    return this.exists(metaKey(INITIALISED));
  }

  /**
   * Initial data: create-if-absent for every record, parents before children, up to 256 writes in
   * flight. Not one transaction (KV has none across keys), but each record is atomic and a retry
   * after a failure only creates what is still missing.
   */
  async bulkLoad(data: BulkLoad, options: BulkLoadOptions = {}): Promise<WriteResult & { companies: number; users: number; faces: number }> {
    let revision = 0;
    const run = async <T>(items: T[], write: (item: T) => Promise<WriteResult & { created: boolean }>) => {
      let created = 0;
      for (let i = 0; i < items.length; i += 256) {
        const results = await Promise.all(items.slice(i, i + 256).map(write));
        for (const r of results) {
          revision = Math.max(revision, r.revision);
          if (r.created) created++;
        }
      }
      return created;
    };
    const companies = await run(data.companies, (c) => this.createKey(companyKey(c), json({ companyId: c })));
    const users = await run(data.users, (u) => this.createKey(userKey(u.companyId, u.userId), json(u)));
    const faces = await run(data.faces, (f) =>
      this.createKey(
        faceKey(f.companyId, f.userId, f.faceId),
        json({ companyId: f.companyId, userId: f.userId, faceId: f.faceId, model: f.model, dim: f.embedding.length, embedding: encodeEmbedding(f.embedding) }),
      ),
    );
    // after the records (KV has no transaction across keys): a load cut short is retried at the next start
    if (options.markInitialised) {
      const marked = await this.createKey(metaKey(INITIALISED), json({ at: new Date().toISOString() }));
      revision = Math.max(revision, marked.revision);
    }
    return { revision, companies, users, faces };
  }

  /** Stops every watcher. The NATS connection belongs to the caller. */
  close(): void {
    this.closed = true;
    clearTimeout(this.housekeepingTimer);
    for (const stop of [...this.stops]) stop();
    void this.shared?.then((s) => s.stop()).catch(() => undefined);
    this.shared = undefined;
  }
}

/** Messages the watcher's consumer had pending when created (the library keeps it on `_data`). */
async function consumerPending(iter: unknown, fallback: number): Promise<number> {
  const oc = (iter as { _data?: { info?: (cached?: boolean) => Promise<{ num_pending: number }> } })._data;
  if (typeof oc?.info !== "function") return fallback;
  try {
    return (await oc.info(true)).num_pending;
  } catch {
    return fallback;
  }
}

function safeJson(entry: KvEntry): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}

// Exported for tests of the value format.
export const _internals = { CompanyValueSchema, UserValueSchema, FaceValueSchema, encodeEmbedding, decodeEmbedding };
