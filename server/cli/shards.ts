/**
 * `facegate shards <list | where <company> | move <company> <shard>>`: the shard map of a sharded
 * NATS install (FACEGATE_SHARDS, NATS_URL and the other NATS_* variables from the environment).
 */
import { connect } from "@nats-io/transport-node";
import { SHARDS_HELP } from "./shards-help.ts";
import { connectionOptions, DEFAULT_SHARD, hashShard, loadNatsConfig, loadShardConfig, moveCompany, ShardMap } from "../../lib/nats/mod.ts";


export async function runShards(args: string[], out: (line: string) => void = console.log, env = process.env): Promise<number> {
  const [sub, ...rest] = args;
  const shards = loadShardConfig(env);
  if (!shards.sharded) {
    out("FACEGATE_SHARDS is not set: this install has one shard (nothing to move)");
    return sub === "list" || sub === "where" ? 0 : 2;
  }
  const config = loadNatsConfig(env);
  const nc = await connect({ ...connectionOptions(config, `facegate-shards-${process.pid}`) });
  const map = await ShardMap.open({ nc, shards: shards.shards, bucket: config.bucket, replicas: config.replicas });
  try {
    if (sub === "list" && rest.length === 0) {
      out(`shards: ${shards.shards.join(", ")} (map version ${map.version})`);
      for (const [company, p] of [...map.explicit()].sort(([a], [b]) => (a < b ? -1 : 1))) {
        out(`  ${company}: ${p.shard}${p.movingTo ? ` -> ${p.movingTo} (moving)` : ""}${p.since !== undefined ? ` since ${p.since}` : ""}`);
      }
      return 0;
    }
    if (sub === "where" && rest.length === 1) {
      const p = await map.fresh(rest[0]!);
      const how = map.explicit().has(rest[0]!) ? "placed" : "hashed";
      out(JSON.stringify({ companyId: rest[0], ...p, how, hashed: hashShard(rest[0]!, shards.shards) }));
      return 0;
    }
    if (sub === "move" && rest.length === 2) {
      const [company, to] = rest as [string, string];
      if (to === DEFAULT_SHARD) throw new Error("name the target shard");
      const r = await moveCompany({ nc, map, companyId: company, to, bucket: config.bucket, replicas: config.replicas, subjectPrefix: config.subjectPrefix, log: out });
      out(JSON.stringify(r));
      return 0;
    }
    out(SHARDS_HELP);
    return 2;
  } finally {
    map.close();
    await nc.close();
  }
}
