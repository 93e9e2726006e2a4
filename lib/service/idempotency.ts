/**
 * Idempotency keys on writes: `withIdempotency(api, store, probe)` is a FaceApi whose writes, when
 * called with `opts.idempotencyKey`, run at most once per key (scoped per company and operation)
 * and answer every retry with the first attempt's answer, success or FaceError, for the store's TTL.
 *
 * - The same key with other arguments: IDEMPOTENCY_KEY_REUSED (422), nothing runs.
 * - A duplicate that arrives while the first still runs (elsewhere) waits for its answer; past its
 *   own deadline it answers UNAVAILABLE (retry with the same key).
 * - The owner died (its worker answers no ping), its lease ran out, or it ended in an error that
 *   leaves the outcome unknown (TIMEOUT, UNAVAILABLE, INTERNAL): a retry takes the record over and
 *   runs the write again, reconciled with what the first attempt may have done. The record says
 *   whether the target existed before the first attempt: a delete that finds nothing left although
 *   the target existed answers `deleted: true`; an enrollment that finds its user or face present
 *   although they were absent answers 201 with the face (finishing the face of a createUser that
 *   died between the user and the face, and recomputing the embedding of the same photo).
 *   A write by another caller between the two attempts would be taken for ours: the ids are the
 *   caller's, so that takes two callers writing the same ids at once.
 */
import { createHash, randomUUID } from "node:crypto";
import type { FaceApi } from "../core/internal.ts";
import { FaceError, TimeoutError, UnavailableError, isErrorCode, type ErrorCode } from "../core/internal.ts";
import { MemoryIdempotencyStore, type IdempotencyRecord, type IdempotencyStore, type StoredAnswer } from "../core/internal.ts";
import type { CallOptions, EnrollRequest, EnrollResult } from "../core/internal.ts";

/** The writes that take a key. */
export const IDEMPOTENT_WRITES = ["createCompany", "deleteCompany", "createUser", "addFace", "deleteUser", "deleteFace", "setOperatingPoint"] as const;
export type IdempotentWrite = (typeof IDEMPOTENT_WRITES)[number];

/** Does the write's target exist now (read before the first attempt runs)? */
export interface GalleryProbe {
  hasCompany(companyId: string): boolean;
  hasUser(companyId: string, userId: string): boolean;
  hasFace(companyId: string, userId: string, faceId: string): boolean;
  /** Waits until the gallery has applied `revision` (the caller's read-your-writes floor). */
  waitForRevision?(revision: number, timeoutMs: number): Promise<void>;
  readonly revision?: number;
}

export interface IdempotencyOptions {
  /** Who owns the records this process creates (the worker id); default a random id. */
  owner?: string;
  /** How long a duplicate waits for the first attempt when its call has no timeoutMs (default 30 s). */
  waitMs?: number;
  /** Added to an owner's deadline before others may take over while it still answers pings (default 5 s). */
  leaseMarginMs?: number;
  /** How often a waiting duplicate looks again (default 50 ms, doubling to 500 ms). */
  pollMs?: number;
  now?: () => number;
}

/** Errors after which a write may or may not have happened: the record stays open for a retry. */
const UNKNOWN_OUTCOME: ReadonlySet<ErrorCode> = new Set(["TIMEOUT", "UNAVAILABLE", "INTERNAL"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stable hash of an operation's arguments (keys sorted; bytes hashed as bytes). */
export function requestHash(op: string, args: unknown): string {
  const h = createHash("sha256");
  h.update(op);
  h.update("\0");
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
      const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : v;
      h.update(`b${bytes.byteLength}:`);
      h.update(bytes);
    } else if (Array.isArray(v)) {
      h.update("[");
      for (const x of v) {
        walk(x);
        h.update(",");
      }
      h.update("]");
    } else if (v !== null && typeof v === "object") {
      h.update("{");
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        h.update(JSON.stringify(k));
        h.update(":");
        walk(x);
        h.update(",");
      }
      h.update("}");
    } else {
      h.update(JSON.stringify(v) ?? "undefined");
    }
  };
  walk(args);
  return h.digest("base64url");
}

/** The record's key: operation, company and the caller's key, hashed into KV-safe characters. */
export function recordKey(op: IdempotentWrite, companyId: string, key: string): string {
  const hex = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);
  return `${op}.${hex(companyId)}.${hex(key)}`;
}

function toAnswer(error: FaceError): StoredAnswer {
  return { ok: false, error: { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) } };
}

function fromAnswer(answer: StoredAnswer): unknown {
  if (answer.ok) return answer.result;
  const e = answer.error;
  throw new FaceError(isErrorCode(e.code) ? e.code : "INTERNAL", e.message, e.details !== undefined ? { details: e.details } : {});
}

type Args = Record<string, unknown> & { companyId?: string; userId?: string; faceId?: string };

export class IdempotentWrites {
  readonly owner: string;
  private readonly waitMs: number;
  private readonly leaseMarginMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(
    private readonly api: FaceApi,
    private readonly store: IdempotencyStore,
    private readonly probe: GalleryProbe,
    opts: IdempotencyOptions = {},
  ) {
    this.owner = opts.owner ?? `p-${randomUUID()}`;
    this.waitMs = opts.waitMs ?? 30_000;
    this.leaseMarginMs = opts.leaseMarginMs ?? 5_000;
    this.pollMs = opts.pollMs ?? 50;
    this.now = opts.now ?? Date.now;
  }

  /** Runs `op` once per key; without a key it just runs. */
  async run(op: IdempotentWrite, args: Args, opts: CallOptions | undefined): Promise<unknown> {
    const key = opts?.idempotencyKey;
    if (key === undefined) return this.exec(op, args, opts);
    const hash = requestHash(op, args);
    const rk = recordKey(op, String(args.companyId ?? ""), key);
    const budget = opts?.timeoutMs ?? this.waitMs;
    const deadline = this.now() + budget;
    if (opts?.minRevision !== undefined) await this.probe.waitForRevision?.(opts.minRevision, budget).catch(() => undefined);
    const pending = (existedBefore: boolean | undefined): IdempotencyRecord => ({
      state: "pending",
      hash,
      owner: this.owner,
      leaseUntil: this.now() + budget + this.leaseMarginMs,
      ...(existedBefore !== undefined ? { existedBefore } : {}),
    });

    const existedBefore = this.targetExists(op, args);
    const first = await this.store.create(rk, pending(existedBefore));
    if (first.created) return this.settle(rk, hash, first.revision, () => this.exec(op, args, opts));

    let current = first.current;
    let delay = this.pollMs;
    for (;;) {
      const r = current.record;
      if (r.hash !== hash) {
        throw new FaceError("IDEMPOTENCY_KEY_REUSED", `Idempotency-Key ${JSON.stringify(key)} was used for another ${op} request`, {
          details: { operation: op },
        });
      }
      if (r.state === "done") return fromAnswer(r.answer);
      const takeover = r.leaseUntil <= this.now() || (r.owner !== this.owner && !(await this.store.ownerAlive(r.owner)));
      if (takeover) {
        const revision = await this.store.update(rk, pending(r.existedBefore), current.revision);
        if (revision !== null) return this.settle(rk, hash, revision, () => this.reconcile(op, args, opts, r.existedBefore));
      } else {
        if (this.now() >= deadline) {
          throw new UnavailableError(`the first ${op} request with this Idempotency-Key is still running; retry with the same key`);
        }
        await sleep(Math.min(delay, Math.max(1, deadline - this.now())));
        delay = Math.min(500, delay * 2);
      }
      const next = await this.store.get(rk);
      if (!next) {
        // Expired meanwhile (TTL): start afresh.
        const again = await this.store.create(rk, pending(this.targetExists(op, args)));
        if (again.created) return this.settle(rk, hash, again.revision, () => this.exec(op, args, opts));
        current = again.current;
      } else current = next;
    }
  }

  /** Runs the write as the record's owner and stores its answer (unless the outcome is unknown). */
  private async settle(rk: string, hash: string, revision: number, fn: () => Promise<unknown>): Promise<unknown> {
    let answer: StoredAnswer;
    try {
      answer = { ok: true, result: await fn() };
    } catch (err) {
      const error = FaceError.from(err);
      if (UNKNOWN_OUTCOME.has(error.code) || error instanceof TimeoutError) {
        // Leave it to a retry, which takes over at once and reconciles.
        const current = await this.store.get(rk).catch(() => null);
        if (current?.record.state === "pending" && current.revision === revision) {
          await this.store.update(rk, { ...current.record, leaseUntil: 0 }, revision).catch(() => null);
        }
        throw error;
      }
      answer = toAnswer(error);
    }
    // Stored best effort: a lost record makes a retry reconcile instead of replay.
    await this.store.update(rk, { state: "done", hash, answer, at: this.now() }, revision).catch(() => null);
    return fromAnswer(answer);
  }

  private targetExists(op: IdempotentWrite, a: Args): boolean | undefined {
    const c = String(a.companyId ?? "");
    switch (op) {
      case "createCompany":
      case "deleteCompany":
        return this.probe.hasCompany(c);
      case "createUser":
      case "deleteUser":
        return this.probe.hasUser(c, String(a.userId ?? ""));
      case "addFace":
      case "deleteFace":
        return this.probe.hasFace(c, String(a.userId ?? ""), String(a.faceId ?? ""));
      default:
        return undefined;
    }
  }

  private exec(op: IdempotentWrite, args: Args, opts: CallOptions | undefined): Promise<unknown> {
    const fn = this.api[op] as (req: unknown, opts?: CallOptions) => Promise<unknown>;
    return fn.call(this.api, args, opts);
  }

  /** A retry after an attempt whose outcome is unknown: run again, and take the first attempt's effect for ours. */
  private async reconcile(op: IdempotentWrite, args: Args, opts: CallOptions | undefined, existedBefore: boolean | undefined): Promise<unknown> {
    const createdBefore = existedBefore === false;
    switch (op) {
      case "createCompany": {
        const r = (await this.exec(op, args, opts)) as { created: boolean };
        return createdBefore && !r.created ? { ...r, created: true } : r;
      }
      case "deleteCompany":
      case "deleteUser":
      case "deleteFace": {
        const r = (await this.exec(op, args, opts)) as { deleted: boolean };
        return existedBefore === true && !r.deleted ? { ...r, deleted: true } : r;
      }
      case "createUser":
        try {
          return await this.exec(op, args, opts);
        } catch (err) {
          if (!createdBefore || !(err instanceof FaceError) || err.code !== "USER_EXISTS") throw err;
          // Our first attempt created the user; its face may be missing (it died in between).
          return this.finishFace(args as unknown as EnrollRequest, opts);
        }
      case "addFace":
        try {
          return await this.exec(op, args, opts);
        } catch (err) {
          if (!createdBefore || !(err instanceof FaceError) || err.code !== "FACE_EXISTS") throw err;
          return this.enrolledFace(args as unknown as EnrollRequest, opts);
        }
      default:
        return this.exec(op, args, opts);
    }
  }

  private async finishFace(req: EnrollRequest, opts: CallOptions | undefined): Promise<EnrollResult> {
    // The store has the user (USER_EXISTS came from its atomic create); this gallery may not have
    // applied it yet when another worker wrote it a moment ago: USER_NOT_FOUND means "not yet".
    const until = this.now() + Math.min(opts?.timeoutMs ?? this.waitMs, 10_000);
    for (let delay = 20; ; delay = Math.min(250, delay * 2)) {
      try {
        return await this.api.addFace(req, opts);
      } catch (err) {
        if (err instanceof FaceError && err.code === "FACE_EXISTS") return this.enrolledFace(req, opts);
        if (!(err instanceof FaceError) || err.code !== "USER_NOT_FOUND" || this.now() >= until) throw err;
        await sleep(delay);
      }
    }
  }

  /** The answer the first attempt gave: the same photo gives the same embedding, score and box. */
  private async enrolledFace(req: EnrollRequest, opts: CallOptions | undefined): Promise<EnrollResult> {
    const { idempotencyKey: _, ...rest } = opts ?? {};
    const e = await this.api.generateEmbedding({ image: req.image }, rest);
    const revision = this.probe.revision;
    return {
      companyId: req.companyId,
      userId: req.userId,
      faceId: req.faceId,
      embedding: e.embedding,
      detectionScore: e.detectionScore,
      bbox: e.bbox,
      model: e.model,
      ...(revision !== undefined ? { revision } : {}),
    };
  }
}

/**
 * The FaceApi with idempotent writes; every other method is the api's own. `close()` and other
 * members of the wrapped object pass through.
 */
export function withIdempotency<T extends FaceApi>(api: T, store: IdempotencyStore, probe: GalleryProbe, opts: IdempotencyOptions = {}): T {
  const writes = new IdempotentWrites(api, store, probe, opts);
  const ops = new Set<string>(IDEMPOTENT_WRITES);
  return new Proxy(api, {
    get(target, name, receiver) {
      if (typeof name === "string" && ops.has(name)) {
        return (req: Args, o?: CallOptions) => writes.run(name as IdempotentWrite, req, o);
      }
      const v = Reflect.get(target, name, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** Embedded mode: the service's writes made idempotent with keys kept in memory (IDEMPOTENCY_TTL_MS, IDEMPOTENCY_MAX_KEYS). */
export function withMemoryIdempotency<T extends FaceApi & { config: { idempotencyTtlMs: number; idempotencyMaxKeys: number }; gallery: GalleryProbe }>(service: T): T {
  const store = new MemoryIdempotencyStore({ ttlMs: service.config.idempotencyTtlMs, maxKeys: service.config.idempotencyMaxKeys });
  return withIdempotency(service, store, service.gallery);
}
