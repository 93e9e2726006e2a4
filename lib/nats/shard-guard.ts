/**
 * The worker's side of shards: a FaceApi decorator that serves only the companies the shard map
 * places on this worker's shard, and the fence a move waits for.
 *
 * - A request for a company placed on another shard is refused with UNAVAILABLE naming that shard
 *   (a gateway with a stale map re-reads the placement and retries there).
 * - While the company is moving (`movingTo`), its source shard answers reads and refuses writes
 *   (UNAVAILABLE, retry in a second); the target shard answers nothing for it yet.
 * - The fence (`<shard prefix>.fence`, every worker of the shard answers): "I have applied map
 *   version v, and every write I admitted under an older version has finished". A move waits for it
 *   from every worker of the source shard before it takes its final copy, so no write can land in
 *   the source after the copy (docs/nats.md "Moving a company").
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { OPERATIONS, type FaceApi, type OperationName } from "../core/internal.ts";
import { FaceError, UnavailableError } from "../core/internal.ts";
import { apiMethod, OPERATION_SPECS } from "./protocol.ts";
import type { Placement, ShardMap } from "./shard-map.ts";
import { shardLabel } from "./shards.ts";

/** Seconds a client is told to wait before retrying a write refused during a move. */
export const MOVE_RETRY_AFTER_SECONDS = 1;

export const FenceRequestSchema = z.object({ version: z.number().int().nonnegative() });
export const FenceReplySchema = z.object({ workerId: z.string(), shard: z.string(), version: z.number().int().nonnegative() });
export type FenceReply = z.infer<typeof FenceReplySchema>;

/** The refusal of a write to a company that is moving (the gateway and the worker give the same). */
export function movingError(companyId: string, p: Placement): FaceError {
  return new UnavailableError(
    `company ${JSON.stringify(companyId)} is moving from shard ${shardLabel(p.shard)} to ${shardLabel(p.movingTo ?? "")}: ` +
      `it is read-only for the few seconds of the move; retry the write in ${MOVE_RETRY_AFTER_SECONDS} s`,
    { details: { retryAfterSeconds: MOVE_RETRY_AFTER_SECONDS, shard: p.shard, movingTo: p.movingTo } },
  );
}

/** The refusal of a request that reached a shard the company is not on. */
export function wrongShardError(companyId: string, here: string, p: Placement): FaceError {
  return new UnavailableError(
    `company ${JSON.stringify(companyId)} is on shard ${shardLabel(p.shard)}, not ${shardLabel(here)} (the shard map changed); retry`,
    { details: { shard: p.shard } },
  );
}

export class ShardGuard {
  /** Map version at admission of each write in flight. */
  private readonly writes = new Set<{ version: number }>();
  private drainWaiters: Array<{ version: number; resolve: () => void }> = [];
  private fenceSub: Subscription | null = null;

  constructor(
    readonly shard: string,
    readonly map: ShardMap,
  ) {}

  /** The decorated api: what FaceWorker serves for this shard. */
  wrap(api: FaceApi): FaceApi {
    const out: Partial<Record<OperationName, unknown>> = {};
    for (const op of Object.keys(OPERATIONS) as OperationName[]) {
      const call = apiMethod(api, op);
      out[op] =
        OPERATION_SPECS[op].request === null
          ? (opts?: unknown) => call(undefined, opts)
          : (req: unknown, opts?: unknown) => this.run(op, req, () => call(req, opts));
    }
    return out as unknown as FaceApi;
  }

  /** Runs `work` if this shard serves the request's company now; tracks writes for the fence. */
  async run<T>(op: OperationName, req: unknown, work: () => Promise<T>): Promise<T> {
    const companyId = (req as { companyId?: unknown } | undefined)?.companyId;
    if (typeof companyId !== "string") return work();
    const p = this.map.placement(companyId);
    const write = OPERATION_SPECS[op].write;
    if (p.shard !== this.shard) {
      // the target of a move under way answers nothing for the company until the map flips
      throw wrongShardError(companyId, this.shard, p);
    }
    if (!write) return work();
    if (p.movingTo !== undefined) throw movingError(companyId, p);
    const token = { version: this.map.version };
    this.writes.add(token);
    try {
      return await work();
    } finally {
      this.writes.delete(token);
      this.releaseDrained();
    }
  }

  /** Resolves when this worker has applied `version` and no write admitted before it is in flight. */
  async fence(version: number, timeoutMs: number): Promise<boolean> {
    if (!(await this.map.waitFor(version, timeoutMs))) return false;
    if (!this.pendingBefore(version)) return true;
    return new Promise((resolve) => {
      const w = { version, resolve: () => resolve(true) };
      this.drainWaiters.push(w);
      setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs).unref?.();
    });
  }

  /** Answers `<prefix>.fence` requests (every worker of the shard: a plain subscription). */
  listen(nc: NatsConnection, prefix: string, workerId: string): void {
    this.fenceSub = nc.subscribe(`${prefix}.fence`, {
      callback: (err, msg) => {
        if (!err) void this.answerFence(msg, workerId);
      },
    });
  }

  stop(): void {
    this.fenceSub?.unsubscribe();
    this.fenceSub = null;
  }

  private async answerFence(msg: Msg, workerId: string): Promise<void> {
    let version: number;
    try {
      version = FenceRequestSchema.parse(msg.json()).version;
    } catch {
      return;
    }
    // unanswered when not reached in time: the mover counts the missing answer and aborts
    if (await this.fence(version, 10_000)) {
      const reply: FenceReply = { workerId, shard: this.shard, version: this.map.version };
      msg.respond(JSON.stringify(reply));
    }
  }

  private pendingBefore(version: number): boolean {
    for (const w of this.writes) if (w.version < version) return true;
    return false;
  }

  private releaseDrained(): void {
    if (this.drainWaiters.length === 0) return;
    const still = [];
    for (const w of this.drainWaiters) {
      if (!this.pendingBefore(w.version)) w.resolve();
      else still.push(w);
    }
    this.drainWaiters = still;
  }
}
