/**
 * Writes to the KV bucket: create-if-absent, delete markers with their revision, children-first
 * cascades, parent re-checks, bulk load (one job: changing the bucket consistently).
 *
 * - create-if-absent = `kv.create` (expected last subject sequence 0, checked by the server), so
 *   "already exists" is atomic across every worker.
 * - Deletes are KV delete markers published through JetStream, so their sequence comes back; the
 *   parent's marker carries the expected last sequence: two concurrent deletes → one `deleted: true`.
 * - Erasure: a face's value (its embedding) is erased from the stream on disk before its delete
 *   marker is written (kv-erase.ts); for a single face the successful erase is the atomic test of who
 *   deleted it.
 * - Cascade order: children first (faces, users, then the company), so the bucket is a tree at
 *   every instant; after the parent's marker the children are listed again (stragglers).
 * - In a JetStream cluster a node's death leaves the bucket without a stream leader for a few
 *   seconds (the election: ~7 s measured with nats-server 2.9 on the shared 2-core machine). The
 *   server then answers "no responders" (nats.js: JetStreamNotEnabled) at once and nothing was
 *   written, so that one error is retried with backoff within `writeRetryMs`; after it, or when the
 *   cluster lost its quorum (the leader accepts but cannot replicate: no acknowledgement), the write
 *   fails with a clear UNAVAILABLE. Timeouts are not retried: a create that timed out may have
 *   landed, and a retry would report "exists" for our own write.
 */
import { backoff, deadline, delay, errors as natsErrors, headers } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import {
  type BulkLoad,
  type BulkLoadOptions,
  companyNotFound,
  type CompanySettings,
  FaceError,
  type FaceRecord,
  compactProfile,
  userNotFound,
  type UserProfile,
  type WriteResult,
} from "../core/internal.ts";
import { faceValue, json, type Warn } from "./kv-codec.ts";
import { eraseEntry, type EraseOutcome } from "./kv-erase.ts";
import { companyKey, faceKey, facesOfCompany, facesOfUser, metaKey, profileKey, profilesOfCompany, settingsKey, userKey, usersOfCompany } from "./keys.ts";

/** The marker key written with the initial data (`m.initialised`). */
const INITIALISED = "initialised";

const isFaceKey = (key: string) => key.startsWith("f.");

/**
 * Time budget of one write (retries included) while the bucket has no leader or cannot replicate:
 * 8 s, one leader election on a loaded machine, and below the gateway client's 10 s timeout, so the
 * caller gets this clear error rather than a timeout.
 */
export const DEFAULT_WRITE_RETRY_MS = 8000;

export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * "No responders" on a JetStream request: no stream leader took it, so nothing was written. nats.js
 * reports it as JetStreamNotEnabled (a class its public module does not export, hence the name).
 */
function isNoLeader(err: unknown): boolean {
  return err instanceof Error && err.name === "JetStreamNotEnabled";
}

export function storeError(op: string, err: unknown): FaceError {
  if (err instanceof FaceError) return err;
  return new FaceError("UNAVAILABLE", `KV store ${op} failed: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

/**
 * Runs `op` within `budget` ms: retried with backoff while the bucket's stream has no leader
 * (nothing was written); past the budget, or when JetStream does not acknowledge, UNAVAILABLE.
 */
export async function retryWhileNoLeader<T>(bucket: string, budget: number, what: string, op: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const policy = backoff([100, 200, 400, 800, 1000]);
  for (let attempt = 0; ; attempt++) {
    const remaining = started + budget - Date.now();
    try {
      if (remaining <= 0) throw new natsErrors.TimeoutError();
      // The attempt goes on in the background past the deadline; its late outcome is ignored.
      return await deadline(op(), remaining);
    } catch (err) {
      if (isNoLeader(err) && Date.now() - started < budget) {
        await delay(Math.min(policy.backoff(attempt), Math.max(0, started + budget - Date.now())));
        continue;
      }
      if (isNoLeader(err) || err instanceof natsErrors.TimeoutError) {
        throw new FaceError(
          "UNAVAILABLE",
          `the gallery cannot be changed now (${what}): the KV bucket "${bucket}" has no JetStream leader that ` +
            `acknowledged the write within ${budget} ms (a NATS node is down and no new leader is elected yet, or the ` +
            `cluster lost its quorum)${isNoLeader(err) ? "" : "; the outcome is unknown, check before retrying"}; ` +
            `recognition and other reads go on`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

export class KvWriter {
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly bucket: string,
    private readonly warn: Warn,
    private readonly writeRetryMs: number = DEFAULT_WRITE_RETRY_MS,
  ) {}

  /**
   * Runs `op` within writeRetryMs: retried with backoff while the stream has no leader (nothing was
   * written); past the budget, or when JetStream does not acknowledge (a leader that cannot
   * replicate: quorum lost), a clear UNAVAILABLE, well before the caller's own timeout.
   */
  private retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    return retryWhileNoLeader(this.bucket, this.writeRetryMs, what, op);
  }

  async createKey(key: string, value: Uint8Array): Promise<WriteResult & { created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const revision = await this.retrying(`create ${key}`, () => this.kv.create(key, value));
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
      return await this.retrying(`get ${key}`, () => this.kv.get(key));
    } catch (err) {
      throw storeError(`get ${key}`, err);
    }
  }

  /** Publishes a delete marker; returns its revision. `expected`: fail unless the key is at this revision. */
  private async deleteMarker(key: string, expected?: number): Promise<number> {
    const h = headers();
    h.set("KV-Operation", "DEL");
    if (expected !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(expected));
    const pa = await this.retrying(`delete ${key}`, () => this.js.publish(`$KV.${this.bucket}.${key}`, undefined, { headers: h }));
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
        const seqs = await Promise.all(
          keys.slice(i, i + 256).map(async (k) => {
            if (isFaceKey(k)) await this.erase(k);
            return this.deleteMarker(k);
          }),
        );
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
    return this.cascadeDelete(companyKey(companyId), [
      facesOfCompany(companyId),
      profilesOfCompany(companyId),
      usersOfCompany(companyId),
      settingsKey(companyId),
    ]);
  }

  /** Puts (or deletes, for null) the company's settings key; COMPANY_NOT_FOUND, also when the company goes meanwhile. */
  async setCompanySettings(companyId: string, settings: CompanySettings | null): Promise<WriteResult> {
    if (!(await this.exists(companyKey(companyId)))) throw companyNotFound(companyId);
    const key = settingsKey(companyId);
    let revision: number;
    try {
      revision = settings
        ? await this.retrying(`put ${key}`, () => this.kv.put(key, json(settings)))
        : await this.deleteMarker(key);
    } catch (err) {
      throw storeError(`put ${key}`, err);
    }
    // a delete of the company that ran meanwhile may have missed this key: remove it with the company
    if (!(await this.exists(companyKey(companyId)))) {
      await this.deleteMarker(key).catch(() => undefined);
      throw companyNotFound(companyId);
    }
    return { revision };
  }

  async createUser(companyId: string, userId: string, profile?: UserProfile): Promise<WriteResult & { created: boolean }> {
    const key = userKey(companyId, userId);
    const kept = compactProfile(profile);
    const result = await this.createKey(key, json(kept ? { companyId, userId, profile: kept } : { companyId, userId }));
    return this.ensureParent(companyKey(companyId), key, result, () => companyNotFound(companyId));
  }

  /** Puts the profile key; USER_NOT_FOUND / COMPANY_NOT_FOUND, also when the user goes meanwhile. */
  async updateUser(companyId: string, userId: string, profile: UserProfile | undefined): Promise<WriteResult> {
    const missing = async () => ((await this.exists(companyKey(companyId))) ? userNotFound(companyId, userId) : companyNotFound(companyId));
    if (!(await this.exists(userKey(companyId, userId)))) throw await missing();
    const key = profileKey(companyId, userId);
    const kept = compactProfile(profile);
    let revision: number;
    try {
      revision = await this.retrying(`put ${key}`, () => this.kv.put(key, json(kept ? { profile: kept } : {})));
    } catch (err) {
      throw storeError(`put ${key}`, err);
    }
    // a delete of the user that ran meanwhile may have missed this key: remove it with the user
    if (!(await this.exists(userKey(companyId, userId)))) {
      await this.deleteMarker(key).catch(() => undefined);
      throw await missing();
    }
    return { revision };
  }

  async deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.cascadeDelete(userKey(companyId, userId), [facesOfUser(companyId, userId), profileKey(companyId, userId)]);
  }

  async addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }> {
    const { companyId, userId, faceId, embedding, model } = face;
    const key = faceKey(companyId, userId, faceId);
    const result = await this.createKey(key, faceValue({ companyId, userId, faceId, model, embedding }));
    // the user is deleted before its company (children first), so a missing user may mean either
    return this.ensureParent(userKey(companyId, userId), key, result, async () =>
      (await this.exists(companyKey(companyId))) ? userNotFound(companyId, userId) : companyNotFound(companyId),
    );
  }

  async deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }> {
    return this.cascadeDelete(faceKey(companyId, userId, faceId), []);
  }

  /**
   * Initial data: create-if-absent for every record, parents before children, up to 256 writes in
   * flight. Not one transaction (KV has none across keys), but each record is atomic and a retry
   * after a failure only creates what is still missing.
   */
  async isInitialised(): Promise<boolean> {
    return this.exists(metaKey(INITIALISED));
  }

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
    const users = await run(data.users, (u) => {
      const profile = compactProfile(u.profile);
      return this.createKey(userKey(u.companyId, u.userId), json(profile ? { companyId: u.companyId, userId: u.userId, profile } : { companyId: u.companyId, userId: u.userId }));
    });
    const faces = await run(data.faces, (f) =>
      this.createKey(faceKey(f.companyId, f.userId, f.faceId), faceValue(f)),
    );
    // after the records (KV has no transaction across keys): a load cut short is retried at the next start
    if (options.markInitialised) {
      const marked = await this.createKey(metaKey(INITIALISED), json({ at: new Date().toISOString() }));
      revision = Math.max(revision, marked.revision);
    }
    return { revision, companies, users, faces };
  }
}
