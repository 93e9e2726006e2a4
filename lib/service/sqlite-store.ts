/**
 * SqliteGalleryStore: the embedded, durable GalleryStore (`bun:sqlite`; better-sqlite3 on Node).
 *
 * - WAL journal; `synchronous=FULL` by default: every commit is fsynced before the call returns, so
 *   an acknowledged write survives a process kill AND a power loss / OS crash. (NORMAL in WAL mode
 *   survives a process kill too but may lose the last commits on power loss; pass
 *   `synchronous: "NORMAL"` where that trade is acceptable: it saves one fsync per write.)
 * - One `BEGIN IMMEDIATE` transaction per operation; the revision is a counter row bumped inside it.
 * - One process per database, enforced: events go to the listeners of this process only, so a second
 *   process writing the file would change data behind the first one's gallery (issue 10: the CLI
 *   enrolled people a running server never saw). The store holds an OS-level lock for as long as it is
 *   open: an exclusive SQLite transaction on `<path>.lock` (a POSIX lock, released by the OS when the
 *   process ends, however it ends); a second open fails at once with UNAVAILABLE naming the path.
 * - Erasure erases: `secure_delete` overwrites deleted rows with zeros, and after a delete the WAL is
 *   checkpointed and truncated (`wal_checkpoint(TRUNCATE)`), because the WAL still holds the page
 *   images written when the face was added. After `deleteUser` returns, the embedding's bytes are in
 *   neither file (tested by reading them). What the filesystem or the disk keeps of freed blocks is
 *   beyond a database's reach.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type BulkLoad,
  type BulkLoadOptions,
  companyNotFound,
  type CompanySettings,
  EventHub,
  FaceError,
  type FaceRecord,
  type GalleryStore,
  type StoreEvent,
  UnavailableError,
  userNotFound,
  userPut,
  compactProfile,
  UserProfileSchema,
  type UserProfile,
  type WriteResult,
} from "../core/internal.ts";
import { openSqlite, type SqliteDatabase } from "./sqlite-driver.ts";

export interface SqliteGalleryStoreOptions {
  /** Database file (created with its directory); ":memory:" for a throwaway one. */
  path: string;
  synchronous?: "FULL" | "NORMAL";
  /**
   * Overwrite deleted rows and truncate the WAL after each delete (default true: erasure erases). false
   * only to measure what it costs (bench/erase.ts).
   */
  eraseOnDelete?: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('schema_version', 1);
CREATE TABLE IF NOT EXISTS companies (
  company_id TEXT PRIMARY KEY,
  revision INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  company_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (company_id, user_id)
);
CREATE TABLE IF NOT EXISTS faces (
  company_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  face_id TEXT NOT NULL,
  model TEXT NOT NULL,
  dim INTEGER NOT NULL,
  embedding BLOB NOT NULL,
  revision INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (company_id, user_id, face_id)
);
`;

type Row = Record<string, unknown>;

/** A stored profile column; an unreadable one is no profile (never a crash at replay). */
function readProfile(value: unknown): UserProfile | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const parsed = UserProfileSchema.safeParse(JSON.parse(value));
    return parsed.success ? compactProfile(parsed.data) : undefined;
  } catch {
    return undefined;
  }
}

function toBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

function fromBlob(b: Uint8Array): Float32Array {
  // copy: the blob may not be 4-byte aligned
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * Takes the database's process lock or fails with UNAVAILABLE. SQLite's own file locks are POSIX
 * advisory locks (fcntl): held by this process while the transaction is open, dropped by the OS when
 * the process exits or is killed, so a crashed server never leaves a stale lock behind.
 */
function lockDatabase(path: string): SqliteDatabase {
  const lock = openSqlite(`${path}.lock`);
  try {
    lock.exec("PRAGMA busy_timeout = 0");
    lock.exec("PRAGMA locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
    return lock;
  } catch (cause) {
    lock.close();
    throw new FaceError(
      "UNAVAILABLE",
      `the database ${path} is open in another process (a running server?): one process per database, so ` +
        "stop that process, or send the command to it (the facegate CLI: --url http://127.0.0.1:8080)",
      { cause, details: { path, reason: "locked" } },
    );
  }
}

export class SqliteGalleryStore implements GalleryStore {
  readonly kind = "sqlite";
  readonly path: string;
  private readonly db: SqliteDatabase;
  private readonly hub = new EventHub();
  private closed = false;
  private readonly bump: () => number;
  private readonly tx: <T>(fn: () => T) => T;
  /** The open exclusive transaction on `<path>.lock` that keeps other processes out (see the header). */
  private readonly lock: SqliteDatabase | undefined;
  private readonly erase: boolean;

  constructor(opts: SqliteGalleryStoreOptions) {
    this.path = opts.path;
    if (opts.path !== ":memory:") {
      mkdirSync(dirname(opts.path), { recursive: true });
      this.lock = lockDatabase(opts.path);
    }
    try {
      this.db = openSqlite(opts.path);
    } catch (error) {
      this.lock?.close();
      throw error;
    }
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec(`PRAGMA synchronous = ${opts.synchronous ?? "FULL"}`);
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.erase = opts.eraseOnDelete ?? true;
    this.db.exec(`PRAGMA secure_delete = ${this.erase ? "ON" : "OFF"}`);
    this.db.exec(SCHEMA);
    // databases from before per-company settings: add the column (NULL = no settings)
    const columns = this.db.query("PRAGMA table_info(companies)").all() as Row[];
    if (!columns.some((c) => c.name === "settings")) this.db.exec("ALTER TABLE companies ADD COLUMN settings TEXT");
    // and from before users' profiles (name, metadata): JSON, NULL = none
    const userColumns = this.db.query("PRAGMA table_info(users)").all() as Row[];
    if (!userColumns.some((c) => c.name === "profile")) this.db.exec("ALTER TABLE users ADD COLUMN profile TEXT");
    const bump = this.db.query("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value");
    this.bump = () => (bump.get() as { value: number }).value;
    this.tx = <T>(fn: () => T): T => this.db.transaction(fn).immediate();
  }

  private now(): string {
    return new Date().toISOString();
  }

  /** The open handle, for tables kept beside the gallery (the event log: sqlite-events.ts). */
  get database(): SqliteDatabase {
    this.assertOpen();
    return this.db;
  }

  private current(): number {
    return (this.db.query("SELECT value FROM meta WHERE key = 'revision'").get() as { value: number }).value;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.current();
  }

  async watch(listener: (event: StoreEvent) => void): Promise<() => void> {
    this.assertOpen();
    // one read transaction: a consistent snapshot
    const replay = this.db.transaction(() => {
      const events: StoreEvent[] = [];
      for (const r of this.db.query("SELECT company_id, revision, settings FROM companies").all() as Row[]) {
        const settings = typeof r.settings === "string" ? (JSON.parse(r.settings) as CompanySettings) : undefined;
        // the company's own revision (not its settings'): users and faces replay after it
        events.push({ revision: r.revision as number, type: "company.put", companyId: r.company_id as string, ...(settings ? { settings } : {}) });
      }
      // the user's own revision (not its profile's): faces replay after it
      for (const r of this.db.query("SELECT company_id, user_id, revision, profile FROM users").all() as Row[]) {
        events.push(userPut(r.revision as number, r.company_id as string, r.user_id as string, readProfile(r.profile)));
      }
      for (const r of this.db.query("SELECT company_id, user_id, face_id, model, embedding, revision FROM faces").all() as Row[]) {
        events.push({
          revision: r.revision as number,
          type: "face.put",
          face: {
            companyId: r.company_id as string,
            userId: r.user_id as string,
            faceId: r.face_id as string,
            model: r.model as string,
            embedding: fromBlob(r.embedding as Uint8Array),
          },
        });
      }
      events.sort((a, b) => a.revision - b.revision);
      events.push({ revision: this.current(), type: "sync" });
      return events;
    })();
    this.hub.emit(replay, listener);
    return this.hub.add(listener);
  }

  async createCompany(companyId: string): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    const result = this.tx(() => {
      if (this.db.query("SELECT 1 FROM companies WHERE company_id = ?").get(companyId)) {
        return { revision: this.current(), created: false };
      }
      const revision = this.bump();
      this.db.query("INSERT INTO companies (company_id, revision, created_at) VALUES (?, ?, ?)").run(companyId, revision, this.now());
      return { revision, created: true };
    });
    if (result.created) this.hub.emit([{ revision: result.revision, type: "company.put", companyId }]);
    return result;
  }

  async setCompanySettings(companyId: string, settings: CompanySettings | null): Promise<WriteResult> {
    this.assertOpen();
    const revision = this.tx(() => {
      if (!this.db.query("SELECT 1 FROM companies WHERE company_id = ?").get(companyId)) throw companyNotFound(companyId);
      const rev = this.bump();
      this.db.query("UPDATE companies SET settings = ? WHERE company_id = ?").run(settings ? JSON.stringify(settings) : null, companyId);
      return rev;
    });
    this.hub.emit([{ revision, type: "company.put", companyId, settings: settings ? { ...settings } : null }]);
    return { revision };
  }

  async deleteCompany(companyId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    const result = this.tx(() => {
      const gone = this.db.query("DELETE FROM companies WHERE company_id = ?").run(companyId).changes > 0;
      if (!gone) return { revision: this.current(), deleted: false };
      this.db.query("DELETE FROM users WHERE company_id = ?").run(companyId);
      this.db.query("DELETE FROM faces WHERE company_id = ?").run(companyId);
      return { revision: this.bump(), deleted: true };
    });
    if (result.deleted) this.eraseWal();
    if (result.deleted) this.hub.emit([{ revision: result.revision, type: "company.delete", companyId }]);
    return result;
  }

  async createUser(companyId: string, userId: string, profile?: UserProfile): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    const kept = compactProfile(profile);
    const result = this.tx(() => {
      if (this.hasUser(companyId, userId)) return { revision: this.current(), created: false };
      // the parent check is inside the write's transaction: a concurrent deleteCompany is either
      // before it (COMPANY_NOT_FOUND) or after it (and its cascade removes this user)
      if (!this.hasCompany(companyId)) throw companyNotFound(companyId);
      const revision = this.bump();
      this.db
        .query("INSERT INTO users (company_id, user_id, revision, created_at, profile) VALUES (?, ?, ?, ?, ?)")
        .run(companyId, userId, revision, this.now(), kept ? JSON.stringify(kept) : null);
      return { revision, created: true };
    });
    if (result.created) this.hub.emit([userPut(result.revision, companyId, userId, kept)]);
    return result;
  }

  async updateUser(companyId: string, userId: string, profile: UserProfile | undefined): Promise<WriteResult> {
    this.assertOpen();
    const kept = compactProfile(profile);
    const revision = this.tx(() => {
      if (!this.hasCompany(companyId)) throw companyNotFound(companyId);
      if (!this.hasUser(companyId, userId)) throw userNotFound(companyId, userId);
      const rev = this.bump();
      this.db
        .query("UPDATE users SET profile = ? WHERE company_id = ? AND user_id = ?")
        .run(kept ? JSON.stringify(kept) : null, companyId, userId);
      return rev;
    });
    this.hub.emit([userPut(revision, companyId, userId, kept)]);
    return { revision };
  }

  async deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    const result = this.tx(() => {
      const gone = this.db.query("DELETE FROM users WHERE company_id = ? AND user_id = ?").run(companyId, userId).changes > 0;
      if (!gone) return { revision: this.current(), deleted: false };
      this.db.query("DELETE FROM faces WHERE company_id = ? AND user_id = ?").run(companyId, userId);
      return { revision: this.bump(), deleted: true };
    });
    if (result.deleted) this.eraseWal();
    if (result.deleted) this.hub.emit([{ revision: result.revision, type: "user.delete", companyId, userId }]);
    return result;
  }

  private hasCompany(companyId: string): boolean {
    return this.db.query("SELECT 1 FROM companies WHERE company_id = ?").get(companyId) != null;
  }

  private hasUser(companyId: string, userId: string): boolean {
    return this.db.query("SELECT 1 FROM users WHERE company_id = ? AND user_id = ?").get(companyId, userId) != null;
  }

  /** Inside a transaction: the face's revision, null if it exists; throws if a parent is missing. */
  private insertFace(face: FaceRecord): number | null {
    const exists = this.db
      .query("SELECT 1 FROM faces WHERE company_id = ? AND user_id = ? AND face_id = ?")
      .get(face.companyId, face.userId, face.faceId);
    if (exists) return null;
    if (!this.hasUser(face.companyId, face.userId)) {
      throw this.hasCompany(face.companyId) ? userNotFound(face.companyId, face.userId) : companyNotFound(face.companyId);
    }
    const revision = this.bump();
    this.db
      .query(
        "INSERT INTO faces (company_id, user_id, face_id, model, dim, embedding, revision, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(face.companyId, face.userId, face.faceId, face.model, face.embedding.length, toBlob(face.embedding), revision, this.now());
    return revision;
  }

  async addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    const stored: FaceRecord = { ...face, embedding: Float32Array.from(face.embedding) };
    const result = this.tx(() => {
      const revision = this.insertFace(stored);
      return revision === null ? { revision: this.current(), created: false } : { revision, created: true };
    });
    if (result.created) this.hub.emit([{ revision: result.revision, type: "face.put", face: stored }]);
    return result;
  }

  async deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    const result = this.tx(() => {
      const gone =
        this.db
          .query("DELETE FROM faces WHERE company_id = ? AND user_id = ? AND face_id = ?")
          .run(companyId, userId, faceId).changes > 0;
      return gone ? { revision: this.bump(), deleted: true } : { revision: this.current(), deleted: false };
    });
    if (result.deleted) this.eraseWal();
    if (result.deleted) this.hub.emit([{ revision: result.revision, type: "face.delete", companyId, userId, faceId }]);
    return result;
  }

  /** Everything in one transaction (one fsync), events after commit. */
  async isInitialised(): Promise<boolean> {
    this.assertOpen();
    return this.db.query("SELECT 1 FROM meta WHERE key = 'initialised_at'").get() != null;
  }

  async bulkLoad(data: BulkLoad, options: BulkLoadOptions = {}): Promise<WriteResult & { companies: number; users: number; faces: number }> {
    this.assertOpen();
    const events: StoreEvent[] = [];
    const now = this.now();
    const counts = this.tx(() => {
      // the marker commits with the records (or neither does)
      if (options.markInitialised) this.db.query("INSERT OR IGNORE INTO meta (key, value) VALUES ('initialised_at', ?)").run(Date.now());
      let companies = 0;
      let users = 0;
      let faces = 0;
      const insCompany = this.db.query("INSERT OR IGNORE INTO companies (company_id, revision, created_at) VALUES (?, ?, ?)");
      const insUser = this.db.query("INSERT OR IGNORE INTO users (company_id, user_id, revision, created_at, profile) VALUES (?, ?, ?, ?, ?)");
      for (const companyId of data.companies) {
        if (this.hasCompany(companyId)) continue;
        const revision = this.bump();
        insCompany.run(companyId, revision, now);
        events.push({ revision, type: "company.put", companyId });
        companies++;
      }
      for (const { companyId, userId, profile } of data.users) {
        if (this.hasUser(companyId, userId) || !this.hasCompany(companyId)) continue;
        const revision = this.bump();
        const kept = compactProfile(profile);
        insUser.run(companyId, userId, revision, now, kept ? JSON.stringify(kept) : null);
        events.push(userPut(revision, companyId, userId, kept));
        users++;
      }
      for (const f of data.faces) {
        const face: FaceRecord = { ...f, embedding: Float32Array.from(f.embedding) };
        if (!this.hasUser(face.companyId, face.userId)) continue;
        const revision = this.insertFace(face);
        if (revision === null) continue;
        events.push({ revision, type: "face.put", face });
        faces++;
      }
      return { revision: this.current(), companies, users, faces };
    });
    this.hub.emit(events);
    return counts;
  }

  /**
   * Moves every committed page into the database file (where secure_delete has zeroed the deleted
   * rows) and truncates the WAL, which otherwise keeps the old page images until they are overwritten.
   * A reader in another connection can hold the checkpoint back: then it is retried at the next
   * delete and at close (SQLite checkpoints and removes the WAL when the last connection closes).
   */
  private eraseWal(): void {
    if (this.path === ":memory:" || !this.erase) return;
    this.db.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.clear();
    this.db.close();
    this.lock?.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError("store closed");
  }
}
