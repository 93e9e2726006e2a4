/**
 * Shards: which worker group holds a company (issue 21, docs/nats.md "Shards").
 *
 * - `FACEGATE_SHARDS=s1,s2` names the shards every process knows (gateway, workers, the CLI); unset,
 *   there is one unnamed shard and today's layout, unchanged: subjects `facegate.v1.<op>`, bucket
 *   `facegate`. A named shard `s1` has subjects `facegate.v1.s1.<op>` (its own queue group, stats and
 *   direct subjects) and its own KV bucket `facegate-s1` (a bucket per shard, not a key prefix: a
 *   worker replays only its shard's stream, each stream has its own leader, so a node's death moves
 *   the leaders of some shards only; measured in `bench:tenants`).
 * - `WORKER_SHARDS=s1`: the shards a worker serves (default: all).
 * - A company's shard: its explicit placement in the shard map when it has one (set by
 *   `facegate shards move`), else rendezvous hashing of the company id over the shard list (the
 *   shard with the highest hash of `shard \0 company` wins: adding a shard moves only the companies
 *   that land on it).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { FaceError } from "../core/internal.ts";
import { SUBJECT_PREFIX } from "./protocol.ts";

/** Names a shard cannot take: they are subject tokens of their own under the prefix. */
const RESERVED = new Set(["w", "stats", "events", "fence"]);

export const ShardNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, "a shard name is 1-32 letters, digits, - or _")
  .refine((s) => !RESERVED.has(s), { message: `a shard cannot be named ${[...RESERVED].join(", ")}` });

const ShardListSchema = z
  .string()
  .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(ShardNameSchema).min(1))
  .refine((a) => new Set(a).size === a.length, { message: "shard names repeat" });

export interface ShardConfig {
  /** The shard names, in the order given; `[""]` for the unsharded layout. */
  shards: string[];
  /** The shards this process serves as a worker (WORKER_SHARDS; default all). */
  workerShards: string[];
  /** True when FACEGATE_SHARDS is set (named shards). */
  sharded: boolean;
}

/** The unnamed shard of an unsharded install. */
export const DEFAULT_SHARD = "";

/** Reads FACEGATE_SHARDS and WORKER_SHARDS; INVALID_ARGUMENT naming the variable on a bad value. */
export function loadShardConfig(env: Record<string, string | undefined> = process.env): ShardConfig {
  const raw = env.FACEGATE_SHARDS?.trim();
  const rawWorker = env.WORKER_SHARDS?.trim();
  if (!raw) {
    if (rawWorker) throw new FaceError("INVALID_ARGUMENT", `WORKER_SHARDS=${rawWorker} needs FACEGATE_SHARDS (the shard list)`);
    return { shards: [DEFAULT_SHARD], workerShards: [DEFAULT_SHARD], sharded: false };
  }
  const shards = parseList("FACEGATE_SHARDS", raw);
  const workerShards = rawWorker ? parseList("WORKER_SHARDS", rawWorker) : shards;
  const unknown = workerShards.filter((s) => !shards.includes(s));
  if (unknown.length > 0) {
    throw new FaceError("INVALID_ARGUMENT", `WORKER_SHARDS names ${unknown.join(", ")}, not in FACEGATE_SHARDS=${shards.join(",")}`);
  }
  return { shards, workerShards, sharded: true };
}

function parseList(name: string, raw: string): string[] {
  const parsed = ShardListSchema.safeParse(raw);
  if (!parsed.success) throw new FaceError("INVALID_ARGUMENT", `${name}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return parsed.data;
}

/** The subject prefix of a shard's workers: `facegate.v1` (unnamed) or `facegate.v1.<shard>`. */
export const shardPrefix = (shard: string, prefix = SUBJECT_PREFIX) => (shard === DEFAULT_SHARD ? prefix : `${prefix}.${shard}`);

/** The gallery bucket of a shard: `facegate` (unnamed) or `facegate-<shard>`. */
export const shardBucket = (shard: string, bucket = "facegate") => (shard === DEFAULT_SHARD ? bucket : `${bucket}-${shard}`);

/** The bucket holding the shard map (`facegate_shardmap`: `_` never occurs between a bucket and a shard). */
export const shardMapBucket = (bucket = "facegate") => `${bucket}_shardmap`;

/** How a shard is shown in messages. */
export const shardLabel = (shard: string) => (shard === DEFAULT_SHARD ? "(default)" : shard);

function score(shard: string, companyId: string): bigint {
  return createHash("sha256").update(shard).update("\u0000").update(companyId).digest().readBigUInt64BE(0);
}

/** Rendezvous (highest random weight) hashing of a company over the shards. */
export function hashShard(companyId: string, shards: readonly string[]): string {
  if (shards.length === 1) return shards[0]!;
  let best = shards[0]!;
  let bestScore = -1n;
  for (const s of shards) {
    const v = score(s, companyId);
    if (v > bestScore || (v === bestScore && s < best)) {
      best = s;
      bestScore = v;
    }
  }
  return best;
}
