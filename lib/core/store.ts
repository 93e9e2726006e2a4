/**
 * GalleryStore: the durable source of truth behind the in-memory gallery.
 *
 * Contract (shared by the SQLite store and the NATS JetStream KV store):
 * - Every committed write gets a strictly increasing `revision` and produces change events,
 *   delivered to `watch` listeners in revision order, exactly once per listener.
 * - The service never mutates its in-memory gallery directly: it writes to the store, then waits
 *   until the gallery has applied the returned revision. So local and remote changes take one path.
 * - `createCompany`, `createUser` and `addFace` are create-if-absent (atomic across processes).
 * - Parents are checked inside the write: `createUser` for a company that does not exist (or no
 *   longer does) throws COMPANY_NOT_FOUND, `addFace` for a missing company or user throws
 *   COMPANY_NOT_FOUND / USER_NOT_FOUND, and nothing is written. So a delete racing an add can
 *   never leave (or bring back) a face of a deleted person.
 * - Cascading deletes may produce several events; the returned revision is the last of them.
 */
import { FaceError } from "./errors.ts";
import { compactProfile, type UserProfile } from "./user-profile.ts";
import type { Awaitable } from "./util.ts";

/** The parent-check failures every store throws (one wording everywhere). */
export function companyNotFound(companyId: string): FaceError {
  return new FaceError("COMPANY_NOT_FOUND", `company ${JSON.stringify(companyId)} does not exist`, { details: { companyId } });
}

export function userNotFound(companyId: string, userId: string): FaceError {
  return new FaceError("USER_NOT_FOUND", `user ${JSON.stringify(userId)} does not exist in company ${JSON.stringify(companyId)}`, {
    details: { companyId, userId },
  });
}

/** A `user.put` event; the profile only when there is one (copied: listeners may keep it). */
export function userPut(revision: number, companyId: string, userId: string, profile: UserProfile | undefined): StoreEvent {
  const p = compactProfile(profile);
  return p ? { revision, type: "user.put", companyId, userId, profile: copyProfile(p) } : { revision, type: "user.put", companyId, userId };
}

function copyProfile(p: UserProfile): UserProfile {
  return p.metadata ? { ...p, metadata: { ...p.metadata } } : { ...p };
}

export interface FaceRecord {
  companyId: string;
  userId: string;
  faceId: string;
  /** L2-normalised embedding. */
  embedding: Float32Array;
  /** Id of the model that produced it (EngineInfo.modelId). */
  model: string;
}

/** A company's own operating point (set through the API; ARCHITECTURE §10). Both absent: the defaults apply. */
export interface CompanySettings {
  /** Fraction of stranger presentations that may be accepted as somebody. */
  fpirTarget?: number;
  /** A fixed threshold instead of a target. */
  threshold?: number;
}

export type StoreEvent =
  /** `settings`: the company's settings as of this revision (null: none; absent: unchanged, e.g. on create). */
  | { revision: number; type: "company.put"; companyId: string; settings?: CompanySettings | null }
  | { revision: number; type: "company.delete"; companyId: string }
  /** `profile`: the user's name and metadata as of this revision (absent: none). */
  | { revision: number; type: "user.put"; companyId: string; userId: string; profile?: UserProfile }
  | { revision: number; type: "user.delete"; companyId: string; userId: string }
  | { revision: number; type: "face.put"; face: FaceRecord }
  | { revision: number; type: "face.delete"; companyId: string; userId: string; faceId: string }
  /**
   * Nothing else changed up to `revision`. Emitted at the end of a replay (the replay's put events
   * carry the revisions their records were written at, so without it a reader would not know that
   * later revisions were deletes of things it never saw). Readers only advance their revision.
   */
  | { revision: number; type: "sync" };

/** Records for `GalleryStore.bulkLoad` (initial data). */
export interface BulkLoad {
  companies: string[];
  users: Array<{ companyId: string; userId: string; profile?: UserProfile }>;
  faces: FaceRecord[];
}

export interface BulkLoadOptions {
  /**
   * Also record that this store was initialised (with the records: one transaction where the store
   * has them), so a store emptied later is not taken for a new one and given the initial data again.
   */
  markInitialised?: boolean;
}

export interface WriteResult {
  /** Store revision after this write (the last one, for cascades). */
  revision: number;
}

export interface GalleryStore {
  /** "sqlite", "nats-kv", "memory", ... */
  readonly kind: string;
  /**
   * Starts delivering events: first the current state as put events (a replay), then every change
   * in order. Resolves once the replay has been delivered. Returns a function that stops delivery.
   */
  watch(listener: (event: StoreEvent) => void): Promise<() => void>;
  /** Current revision of the store (last committed write). */
  revision(): Promise<number>;
  createCompany(companyId: string): Promise<WriteResult & { created: boolean }>;
  /** Deletes the company, its users and their faces. */
  deleteCompany(companyId: string): Promise<WriteResult & { deleted: boolean }>;
  /** Creates the user if absent (created false otherwise, the profile untouched); COMPANY_NOT_FOUND if the company is not there. */
  createUser(companyId: string, userId: string, profile?: UserProfile): Promise<WriteResult & { created: boolean }>;
  /** Replaces the user's profile (undefined clears it); emits `user.put` with it. USER_NOT_FOUND / COMPANY_NOT_FOUND. */
  updateUser(companyId: string, userId: string, profile: UserProfile | undefined): Promise<WriteResult>;
  deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }>;
  /** Creates the face if absent (created false otherwise); COMPANY_NOT_FOUND / USER_NOT_FOUND if a parent is not there. */
  addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }>;
  deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }>;
  /**
   * Optional: replaces the company's settings (null clears them); emits `company.put` with them.
   * COMPANY_NOT_FOUND when the company does not exist. Stores without it cannot keep per-company settings.
   */
  setCompanySettings?(companyId: string, settings: CompanySettings | null): Promise<WriteResult>;
  /**
   * Optional: creates-if-absent every record in one go (one transaction where the store has them).
   * Used to apply initial data; without it the service falls back to the single-record writes.
   * Callers pass a consistent tree (parents listed before, or already stored); memory and SQLite
   * skip (and do not count) a record whose parent is missing, so even bad input cannot add an orphan.
   */
  bulkLoad?(data: BulkLoad, options?: BulkLoadOptions): Promise<WriteResult & { companies: number; users: number; faces: number }>;
  /** Optional: whether `bulkLoad(..., { markInitialised: true })` ever ran on this store. */
  isInitialised?(): Promise<boolean>;
  close(): Awaitable<void>;
}
