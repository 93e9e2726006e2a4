/**
 * Moving a company between shards (`facegate shards move <company> <shard>`; docs/nats.md "Moving a
 * company"). Steps, each safe to repeat (a move cut short is finished by running it again):
 *
 * 1. Placement `{shard: from, movingTo: to}` (CAS): from now gateways refuse writes to the company
 *    (503, Retry-After 1) and the source shard's workers refuse them too; reads go on at the source.
 * 2. Fence: every worker of the source shard (as its stats list them) confirms it applied that map
 *    version and finished every write it admitted before it. A worker that does not confirm aborts
 *    the move (placement restored): no write can land in the source after step 4.
 * 3. The target's leftovers of the company (an earlier move cut short) are deleted.
 * 4. Copy: the company, settings, user and face keys, values byte for byte, parents first.
 * 5. Check: the source's keys are listed again; any difference aborts (nothing may have changed).
 * 6. The target's workers are given a moment to apply the copy (their revision ≥ the copy's).
 * 7. Flip (CAS): `{shard: to, since: <target revision of the copy>}`. Reads now go to the target
 *    and wait for `since` there: read-your-writes holds across the move.
 * 8. The source's copy is deleted (faces erased from its stream, as any delete).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { FaceError, UnavailableError } from "../core/internal.ts";
import { companyKey, facesOfCompany, settingsKey, usersOfCompany } from "./keys.ts";
import { KvGalleryStore } from "./kv-store.ts";
import { storeError } from "./kv-writes.ts";
import { decodeReply, encodeRequest, SUBJECT_PREFIX, WorkerStatsSchema } from "./protocol.ts";
import { FenceReplySchema } from "./shard-guard.ts";
import type { Placement, ShardMap } from "./shard-map.ts";
import { shardBucket, shardLabel, shardPrefix } from "./shards.ts";

export interface MoveCompanyOptions {
  nc: NatsConnection;
  map: ShardMap;
  companyId: string;
  to: string;
  /** NATS_KV_BUCKET (default facegate). */
  bucket?: string;
  /** NATS_KV_REPLICAS, for a target bucket that does not exist yet. */
  replicas?: number;
  /** NATS_SUBJECT_PREFIX (default facegate.v1). */
  subjectPrefix?: string;
  /** How long the source's workers have to confirm the fence (default 10 s). */
  fenceTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface MoveReport {
  companyId: string;
  from: string;
  to: string;
  /** False when the company was on `to` already. */
  moved: boolean;
  /** Keys copied (company, settings, users, faces). */
  keys: number;
  users: number;
  faces: number;
  /** The target's revision at which the company is complete there (reads wait for it). */
  since: number;
  /** Workers of the source that confirmed the fence. */
  fencedWorkers: string[];
  /** How long writes to the company were refused (ms), and the whole move. */
  readOnlyMs: number;
  totalMs: number;
}

export async function moveCompany(opts: MoveCompanyOptions): Promise<MoveReport> {
  const { nc, map, companyId, to } = opts;
  const log = opts.log ?? (() => undefined);
  const prefix = opts.subjectPrefix ?? SUBJECT_PREFIX;
  const bucket = opts.bucket ?? "facegate";
  const started = performance.now();
  if (!map.shards.includes(to)) throw new FaceError("INVALID_ARGUMENT", `unknown shard ${to}; the shards are ${map.shards.join(", ")}`);
  const now = await map.fresh(companyId);
  const from = now.shard;
  const report = (extra: Partial<MoveReport>): MoveReport => ({
    companyId, from, to, moved: false, keys: 0, users: 0, faces: 0, since: now.since ?? 0, fencedWorkers: [], readOnlyMs: 0,
    totalMs: performance.now() - started, ...extra,
  });
  if (now.movingTo === undefined && from === to) return report({});
  if (now.movingTo !== undefined && now.movingTo !== to) {
    throw new FaceError("INVALID_ARGUMENT", `company ${JSON.stringify(companyId)} is being moved to ${now.movingTo}: finish that move first (shards move ${companyId} ${now.movingTo})`);
  }

  // 1. read-only
  const readOnlyFrom = performance.now();
  const version = await map.update(companyId, (cur) => {
    if ((cur?.shard ?? from) !== from) throw new UnavailableError(`the placement of ${JSON.stringify(companyId)} changed meanwhile; try again`);
    return { shard: from, movingTo: to, ...(cur?.since !== undefined ? { since: cur.since } : {}) };
  });
  log(`${companyId}: read-only on ${shardLabel(from)} (map version ${version})`);
  const restore = async () => {
    await map.update(companyId, (cur) => ({ shard: from, ...(cur?.since !== undefined ? { since: cur.since } : {}) })).catch(() => undefined);
  };

  const source = await openKv(nc, shardBucket(from, bucket));
  const target = await KvGalleryStore.open({ nc, bucket: shardBucket(to, bucket), replicas: opts.replicas ?? 1, markerRetentionMs: 0 });
  const targetKv = await openKv(nc, target.bucket);
  try {
    // 2. fence
    const fencedWorkers = await fence(nc, shardPrefix(from, prefix), version, opts.fenceTimeoutMs ?? 10_000).catch(async (err) => {
      await restore();
      throw err;
    });
    log(`${companyId}: ${fencedWorkers.length} worker(s) of ${shardLabel(from)} confirmed (${fencedWorkers.join(", ") || "none running"})`);
    let copied;
    try {
      // 3. leftovers of an earlier attempt
      await target.deleteCompany(companyId);
      // 4. copy
      const keys = await companyKeys(source, companyId);
      copied = await copyKeys(source, targetKv, keys);
      // 5. nothing changed meanwhile
      const again = await companyKeys(source, companyId);
      if (again.join("\n") !== keys.join("\n")) {
        throw new UnavailableError(`company ${JSON.stringify(companyId)} changed on ${shardLabel(from)} during the copy (a worker that did not honour the fence?)`);
      }
      copied.since = Math.max(copied.since, await target.revision());
      // 6. target workers catch up (reads would wait for them anyway)
      await waitForRevision(nc, shardPrefix(to, prefix), copied.since, 5000);
    } catch (err) {
      await target.deleteCompany(companyId).catch(() => undefined);
      await restore();
      throw err;
    }
    // 7. flip
    const since = copied.since;
    await map.update(companyId, (cur) => {
      if (cur?.movingTo !== to) throw new UnavailableError(`the move of ${JSON.stringify(companyId)} was changed meanwhile`);
      return { shard: to, since } satisfies Placement;
    });
    const readOnlyMs = performance.now() - readOnlyFrom;
    log(`${companyId}: now on ${shardLabel(to)} (since revision ${since}); writes open again after ${Math.round(readOnlyMs)} ms`);
    // 8. the source's copy goes
    const src = await KvGalleryStore.open({ nc, bucket: shardBucket(from, bucket), markerRetentionMs: 0 });
    try {
      await src.deleteCompany(companyId);
    } finally {
      src.close();
    }
    return report({ moved: true, keys: copied.keys, users: copied.users, faces: copied.faces, since, fencedWorkers, readOnlyMs });
  } finally {
    target.close();
  }
}

async function openKv(nc: NatsConnection, name: string): Promise<KV> {
  try {
    return await new Kvm(jetstream(nc)).open(name);
  } catch (err) {
    throw storeError(`open bucket ${name}`, err);
  }
}

/** The company's keys, parents first (company, settings, users, faces), each group sorted. */
async function companyKeys(kv: KV, companyId: string): Promise<string[]> {
  const list = async (filter: string) => {
    const out: string[] = [];
    for await (const k of await kv.keys(filter)) out.push(k);
    return out.sort();
  };
  const [c, s, u, f] = await Promise.all([list(companyKey(companyId)), list(settingsKey(companyId)), list(usersOfCompany(companyId)), list(facesOfCompany(companyId))]);
  return [...c, ...s, ...u, ...f];
}

async function copyKeys(from: KV, to: KV, keys: string[]): Promise<{ keys: number; users: number; faces: number; since: number }> {
  let since = 0;
  let users = 0;
  let faces = 0;
  // parents strictly before children: one group (by first letter) at a time
  for (const group of ["c", "s", "u", "f"]) {
    const ks = keys.filter((k) => k.startsWith(`${group}.`));
    for (let i = 0; i < ks.length; i += 256) {
      const revs = await Promise.all(
        ks.slice(i, i + 256).map(async (k) => {
          const e = await from.get(k);
          if (!e || e.operation !== "PUT") return 0;
          if (group === "u") users++;
          if (group === "f") faces++;
          return to.put(k, e.value);
        }),
      );
      since = Math.max(since, ...revs);
    }
  }
  return { keys: keys.length, users, faces, since };
}

/** Brief stats of a shard's workers (every worker answers `<prefix>.stats`). */
async function shardWorkers(nc: NatsConnection, prefix: string) {
  const out = [];
  try {
    const replies = await nc.requestMany(`${prefix}.stats`, encodeRequest({ brief: true }).payload, { strategy: "stall", stall: 300, maxWait: 3000 });
    for await (const m of replies) {
      if (m.data.byteLength === 0) continue;
      const parsed = WorkerStatsSchema.safeParse(safeReply(m.data));
      if (parsed.success) out.push(parsed.data);
    }
  } catch {
    // no responders: no worker
  }
  return out;
}

function safeReply(data: Uint8Array): unknown {
  try {
    return decodeReply(data);
  } catch {
    return undefined;
  }
}

/** Every worker of the shard confirms `version` (see ShardGuard.fence); their ids. */
async function fence(nc: NatsConnection, prefix: string, version: number, timeoutMs: number): Promise<string[]> {
  const expected = new Set((await shardWorkers(nc, prefix)).map((w) => w.workerId));
  const confirmed = new Set<string>();
  if (expected.size > 0) {
    try {
      const replies = await nc.requestMany(`${prefix}.fence`, JSON.stringify({ version }), { strategy: "count", maxMessages: expected.size, maxWait: timeoutMs });
      for await (const m of replies) {
        if (m.data.byteLength === 0) continue;
        const r = FenceReplySchema.safeParse(safeJson(m.data));
        if (r.success) confirmed.add(r.data.workerId);
      }
    } catch {
      // counted below
    }
  }
  const missing = [...expected].filter((w) => !confirmed.has(w));
  if (missing.length > 0) {
    throw new UnavailableError(`worker(s) ${missing.join(", ")} of ${prefix} did not confirm the move within ${timeoutMs} ms; the move is undone, try again`);
  }
  return [...confirmed].sort();
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

/** Waits (at most `timeoutMs`) until every worker of the shard has applied `revision`. */
async function waitForRevision(nc: NatsConnection, prefix: string, revision: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ws = await shardWorkers(nc, prefix);
    if (ws.every((w) => w.revision >= revision)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
