/**
 * Shard configuration and placement (no server): FACEGATE_SHARDS / WORKER_SHARDS parsing with clear
 * errors, the unsharded layout unchanged, rendezvous hashing stable and spread, names kept off the
 * subject tokens the protocol uses.
 */
import { expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { DEFAULT_SHARD, hashShard, loadShardConfig, shardBucket, shardMapBucket, shardPrefix } from "../../../lib/nats/shards.ts";

const fails = (env: Record<string, string>) => {
  try {
    loadShardConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(FaceError);
    expect((e as FaceError).code).toBe("INVALID_ARGUMENT");
    return (e as FaceError).message;
  }
  throw new Error("accepted");
};

test("unset: one unnamed shard with today's subjects and bucket", () => {
  const c = loadShardConfig({});
  expect(c).toEqual({ shards: [DEFAULT_SHARD], workerShards: [DEFAULT_SHARD], sharded: false });
  expect(shardPrefix(DEFAULT_SHARD)).toBe("facegate.v1");
  expect(shardBucket(DEFAULT_SHARD)).toBe("facegate");
  expect(hashShard("acme", c.shards)).toBe(DEFAULT_SHARD);
});

test("named shards: subjects, buckets, WORKER_SHARDS defaulting to all", () => {
  const c = loadShardConfig({ FACEGATE_SHARDS: " s1, s2 " });
  expect(c).toEqual({ shards: ["s1", "s2"], workerShards: ["s1", "s2"], sharded: true });
  expect(loadShardConfig({ FACEGATE_SHARDS: "s1,s2", WORKER_SHARDS: "s2" }).workerShards).toEqual(["s2"]);
  expect(shardPrefix("s1")).toBe("facegate.v1.s1");
  expect(shardPrefix("s1", "acme.v1")).toBe("acme.v1.s1");
  expect(shardBucket("s2", "gal")).toBe("gal-s2");
  expect(shardMapBucket("gal")).toBe("gal_shardmap");
});

test("bad shard settings name the variable", () => {
  expect(fails({ FACEGATE_SHARDS: "s1,s1" })).toContain("FACEGATE_SHARDS");
  expect(fails({ FACEGATE_SHARDS: "s.1" })).toContain("FACEGATE_SHARDS");
  expect(fails({ FACEGATE_SHARDS: "s1,stats" })).toContain("cannot be named");
  expect(fails({ FACEGATE_SHARDS: "s1,w" })).toContain("cannot be named");
  expect(fails({ FACEGATE_SHARDS: "s1,s2", WORKER_SHARDS: "s3" })).toContain("WORKER_SHARDS");
  expect(fails({ WORKER_SHARDS: "s1" })).toContain("needs FACEGATE_SHARDS");
});

test("rendezvous hashing: stable, spread, and adding a shard moves only what lands on it", () => {
  const ids = Array.from({ length: 4000 }, (_, i) => `company-${i}`);
  const two = ids.map((id) => hashShard(id, ["s1", "s2"]));
  expect(ids.map((id) => hashShard(id, ["s2", "s1"]))).toEqual(two); // order of the list is irrelevant
  const s1 = two.filter((s) => s === "s1").length;
  expect(s1).toBeGreaterThan(1800);
  expect(s1).toBeLessThan(2200);
  const three = ids.map((id) => hashShard(id, ["s1", "s2", "s3"]));
  for (let i = 0; i < ids.length; i++) if (three[i] !== "s3") expect(three[i]).toBe(two[i]!);
  const moved = three.filter((s) => s === "s3").length;
  expect(moved).toBeGreaterThan(1100);
  expect(moved).toBeLessThan(1600);
});
