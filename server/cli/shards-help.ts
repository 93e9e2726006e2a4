/** The help of `facegate shards` (apart from the command, so the CLI's help loads no NATS code). */
export const SHARDS_HELP = `usage: bun run facegate shards <list | where <company> | move <company> <shard>>

The shard map of a sharded NATS install (FACEGATE_SHARDS=s1,s2 and NATS_URL from the environment).

  list                       the shards and every explicit placement (moved companies)
  where <company>            the company's shard (placement or hash) and whether it is moving
  move <company> <shard>     moves the company: a few seconds read-only (writes answer 503 with
                             Retry-After: 1, recognitions go on), then its new shard serves it.
                             A move cut short is finished by running it again.

example:
  FACEGATE_SHARDS=s1,s2 NATS_URL=nats://127.0.0.1:4222 bun run facegate shards move acme s2
`;
