/**
 * The shard map: the shard list and explicit company placements, in a small KV bucket
 * (`facegate_shardmap`) that every gateway and worker watches. Versioned: the version is the bucket's
 * revision, and every change is a compare-and-set on the key it changes.
 *
 * | key | value |
 * |---|---|
 * | `shards` | `{"shards": ["s1","s2"]}`: written once by the first process; a process started with another list refuses to start |
 * | `p.<company token>` | `{"shard": "s2", "since": 812}` or `{"shard": "s1", "movingTo": "s2"}` |
 *
 * A company without a placement lives where rendezvous hashing puts it (shards.ts). `since` is the
 * revision of the shard's bucket at which the company was complete there (after a move): a read
 * waits for it, so read-your-writes holds across a move. `movingTo`: a move is under way, the
 * company is read-only (its source shard answers reads, writes are refused with a retry hint).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { z } from "zod";
import { FaceError } from "../core/internal.ts";
import { decodeId, encodeId } from "./keys.ts";
import { isWrongLastSequence, storeError } from "./kv-writes.ts";
import { hashShard, shardMapBucket, ShardNameSchema } from "./shards.ts";

export const PlacementSchema = z.object({
  shard: ShardNameSchema,
  movingTo: ShardNameSchema.optional(),
  since: z.number().int().nonnegative().optional(),
});
export type Placement = z.infer<typeof PlacementSchema>;
const ShardsValueSchema = z.object({ shards: z.array(ShardNameSchema).min(1) });

const SHARDS_KEY = "shards";
const placementKey = (companyId: string) => `p.${encodeId(companyId)}`;
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

export interface ShardMapOptions {
  nc: NatsConnection;
  /** The shard list of this process (FACEGATE_SHARDS). */
  shards: string[];
  /** NATS_KV_BUCKET: the map bucket is `<bucket>_shardmap`. */
  bucket?: string;
  replicas?: number;
  timeoutMs?: number;
  onWarning?: (message: string) => void;
}

/** A watched copy of the shard map. */
export class ShardMap {
  readonly shards: readonly string[];
  private readonly placements = new Map<string, Placement>();
  /** The revision of each placement this copy holds (a get never overwrites a newer watch entry). */
  private readonly revisions = new Map<string, number>();
  private applied = 0;
  private waiters: Array<{ version: number; resolve: () => void }> = [];
  private listeners = new Set<(companyId: string, placement: Placement | null) => void>();
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    shards: string[],
    private readonly warn: (m: string) => void,
  ) {
    this.shards = shards;
  }

  /** Opens (creating) the map bucket, checks the shard list, replays the placements and keeps watching. */
  static async open(opts: ShardMapOptions): Promise<ShardMap> {
    const timeout = opts.timeoutMs ?? 10_000;
    const name = shardMapBucket(opts.bucket);
    // several processes starting together on a fresh cluster create the bucket at once: its stream
    // has no leader for a moment (requests time out), so opening is retried for a while
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const kv = await new Kvm(jetstream(opts.nc, { timeout })).create(name, { history: 1, replicas: opts.replicas ?? 1, timeout });
        const map = new ShardMap(kv, opts.shards, opts.onWarning ?? ((m) => console.warn(`[shard-map] ${m}`)));
        await map.checkShardList();
        await map.watch();
        return map;
      } catch (err) {
        if (err instanceof FaceError && err.code === "INVALID_ARGUMENT") throw err;
        if (Date.now() - started > 4 * timeout) throw storeError(`open bucket ${name}`, err);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  /** The map's version this copy has applied (the bucket revision of its last change). */
  get version(): number {
    return this.applied;
  }

  /** Where the company lives now: its placement, or the hashed shard. */
  placement(companyId: string): Placement {
    return this.placements.get(companyId) ?? { shard: hashShard(companyId, this.shards) };
  }

  /** Explicit placements (moved companies). */
  explicit(): ReadonlyMap<string, Placement> {
    return this.placements;
  }

  /** Reads one placement from the bucket now (after a refusal that suggests this copy is behind). */
  async fresh(companyId: string): Promise<Placement> {
    try {
      const entry = await this.kv.get(placementKey(companyId));
      if (entry) this.apply(entry, false); // one key: says nothing of the others, so the version stays
    } catch (err) {
      this.warn(`reading the placement of ${JSON.stringify(companyId)} failed: ${(err as Error).message}`);
    }
    return this.placement(companyId);
  }

  /** Resolves once this copy has applied `version` (or after `timeoutMs`: false). */
  waitFor(version: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= version) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { version, resolve: () => resolve(true) };
      this.waiters.push(w);
      setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(this.applied >= version);
      }, timeoutMs).unref?.();
    });
  }

  /** Called with every placement change this copy applies (null: back to the hashed shard). */
  onChange(listener: (companyId: string, placement: Placement | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Compare-and-set of a company's placement: `change` gets the current one (null: none, the hashed
   * shard) and returns the next. Retried when another writer changed it meanwhile. Returns the map
   * version of the write, once this copy has applied it. Placements are never removed (a company
   * moved back to its hashed shard keeps one; a deleted and re-created company stays where it was).
   */
  async update(companyId: string, change: (current: Placement | null) => Placement): Promise<number> {
    const key = placementKey(companyId);
    for (let attempt = 0; attempt < 10; attempt++) {
      let entry: KvEntry | null;
      try {
        entry = await this.kv.get(key);
      } catch (err) {
        throw storeError(`get ${key}`, err);
      }
      const current = entry && entry.operation === "PUT" ? PlacementSchema.parse(entry.json()) : null;
      const next = change(current);
      if (!this.shards.includes(next.shard) || (next.movingTo !== undefined && !this.shards.includes(next.movingTo))) throw new FaceError("INVALID_ARGUMENT", `unknown shard ${next.shard}`);
      try {
        const revision = entry ? await this.kv.update(key, json(next), entry.revision) : await this.kv.create(key, json(next));
        await this.waitFor(revision, 5000);
        return revision;
      } catch (err) {
        if (!isWrongLastSequence(err) && !/wrong last sequence|key exists/i.test(String((err as Error).message))) throw storeError(`update ${key}`, err);
      }
    }
    throw new FaceError("UNAVAILABLE", `the placement of ${JSON.stringify(companyId)} is being changed by someone else; try again`);
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  // ------------------------------------------------------------------ internals

  private async checkShardList(): Promise<void> {
    try {
      await this.kv.create(SHARDS_KEY, json({ shards: this.shards }));
      return;
    } catch (err) {
      if (!isWrongLastSequence(err) && !/wrong last sequence|key exists/i.test(String((err as Error).message))) throw storeError("create the shard list", err);
    }
    const entry = await this.kv.get(SHARDS_KEY);
    const stored = entry && entry.operation === "PUT" ? ShardsValueSchema.safeParse(entry.json()) : null;
    if (!stored?.success) return;
    const a = [...stored.data.shards].sort().join(",");
    const b = [...this.shards].sort().join(",");
    if (a !== b) {
      throw new FaceError(
        "INVALID_ARGUMENT",
        `FACEGATE_SHARDS=${this.shards.join(",")} but the shard map lists ${stored.data.shards.join(",")}: ` +
          `every process must be started with the same shard list (changing it moves companies: see docs/nats.md "Shards")`,
      );
    }
  }

  private async watch(): Promise<void> {
    const messages = (await this.kv.status()).streamInfo.state.messages;
    const iter = await this.kv.watch({ key: "p.>" });
    this.stopWatch = () => iter.stop();
    let ready!: () => void;
    const replayed = new Promise<void>((r) => (ready = r));
    // the `shards` key is one of the messages; placements may be none
    let pending = messages > 1;
    if (!pending) {
      this.advance((await this.kv.status()).streamInfo.state.last_seq);
      ready();
    }
    void (async () => {
      try {
        for await (const entry of iter) {
          this.apply(entry, true);
          if (pending && (entry.isUpdate || entry.delta === 0)) {
            pending = false;
            ready();
          }
        }
      } catch (err) {
        this.warn(`shard map watch ended: ${(err as Error).message}`);
      } finally {
        ready();
      }
    })();
    await replayed;
  }

  /** Applies an entry of the watch or of a get, unless this copy has a newer one of that key. */
  private apply(entry: KvEntry, inOrder: boolean): void {
    const companyId = decodeId(entry.key.slice(2));
    if (entry.revision > (this.revisions.get(companyId) ?? 0)) {
      this.revisions.set(companyId, entry.revision);
      const parsed = entry.operation === "PUT" ? PlacementSchema.safeParse(safeJson(entry)) : null;
      if (parsed && !parsed.success) this.warn(`invalid placement at ${entry.key}: ${parsed.error.message}`);
      else {
        if (parsed) this.placements.set(companyId, parsed.data);
        else this.placements.delete(companyId);
        for (const l of this.listeners) l(companyId, parsed ? parsed.data : null);
      }
    }
    if (inOrder) this.advance(entry.revision);
  }

  private advance(version: number): void {
    if (version <= this.applied) return;
    this.applied = version;
    const still = [];
    for (const w of this.waiters) {
      if (w.version <= version) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}

function safeJson(entry: KvEntry): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}
