/**
 * MemoryGalleryStore: the GalleryStore contract in memory (tests, edge runtimes, ephemeral workers).
 * Runtime-free. Each write is atomic (synchronous), gets the next revision, and its events are
 * delivered to listeners after the write, in revision order.
 */
import { UnavailableError } from "./errors.ts";
import { compactProfile, type UserProfile } from "./user-profile.ts";
import { companyNotFound, userNotFound, userPut, type BulkLoad, type BulkLoadOptions, type CompanySettings, type FaceRecord, type GalleryStore, type StoreEvent, type WriteResult } from "./store.ts";

type Listener = (event: StoreEvent) => void;

/** Listener fan-out shared by the stores: a throwing listener never breaks the store or other listeners. */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  constructor(
    private readonly onError: (error: unknown) => void = (e) => console.error(`[store] a watch listener failed: ${(e as Error)?.message ?? e}`),
  ) {}

  add(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(events: StoreEvent[], only?: Listener): void {
    const targets = only ? [only] : [...this.listeners];
    for (const event of events) {
      for (const l of targets) {
        try {
          l(event);
        } catch (error) {
          this.onError(error);
        }
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

interface FaceRow extends FaceRecord {
  revision: number;
}

const key = (...parts: string[]): string => JSON.stringify(parts);

export class MemoryGalleryStore implements GalleryStore {
  readonly kind = "memory";
  private rev = 0;
  private readonly companies = new Map<string, number>();
  private readonly settings = new Map<string, CompanySettings>();
  /** `revision`: the user's creation (replays order users before their faces); the profile may be newer. */
  private readonly users = new Map<string, { companyId: string; userId: string; revision: number; profile?: UserProfile }>();
  private readonly faces = new Map<string, FaceRow>();
  private readonly hub = new EventHub();
  private closed = false;
  private initialised = false;

  async watch(listener: Listener): Promise<() => void> {
    this.assertOpen();
    const replay: StoreEvent[] = [];
    for (const [companyId, revision] of this.companies) {
      const settings = this.settings.get(companyId);
      replay.push({ revision, type: "company.put", companyId, ...(settings ? { settings: { ...settings } } : {}) });
    }
    for (const u of this.users.values()) replay.push(userPut(u.revision, u.companyId, u.userId, u.profile));
    for (const f of this.faces.values()) {
      const { revision, ...face } = f;
      replay.push({ revision, type: "face.put", face: { ...face, embedding: face.embedding.slice() } });
    }
    replay.sort((a, b) => a.revision - b.revision);
    replay.push({ revision: this.rev, type: "sync" });
    this.hub.emit(replay, listener);
    return this.hub.add(listener);
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async createCompany(companyId: string): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    if (this.companies.has(companyId)) return { revision: this.rev, created: false };
    const revision = ++this.rev;
    this.companies.set(companyId, revision);
    this.hub.emit([{ revision, type: "company.put", companyId }]);
    return { revision, created: true };
  }

  async setCompanySettings(companyId: string, settings: CompanySettings | null): Promise<WriteResult> {
    this.assertOpen();
    if (!this.companies.has(companyId)) throw companyNotFound(companyId);
    const revision = ++this.rev;
    if (settings) this.settings.set(companyId, { ...settings });
    else this.settings.delete(companyId);
    this.hub.emit([{ revision, type: "company.put", companyId, settings: settings ? { ...settings } : null }]);
    return { revision };
  }

  async deleteCompany(companyId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    if (!this.companies.has(companyId)) return { revision: this.rev, deleted: false };
    const revision = ++this.rev;
    this.companies.delete(companyId);
    this.settings.delete(companyId);
    for (const [k, u] of this.users) if (u.companyId === companyId) this.users.delete(k);
    for (const [k, f] of this.faces) if (f.companyId === companyId) this.faces.delete(k);
    this.hub.emit([{ revision, type: "company.delete", companyId }]);
    return { revision, deleted: true };
  }

  async createUser(companyId: string, userId: string, profile?: UserProfile): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    const k = key(companyId, userId);
    if (this.users.has(k)) return { revision: this.rev, created: false };
    if (!this.companies.has(companyId)) throw companyNotFound(companyId);
    const revision = ++this.rev;
    const kept = compactProfile(profile);
    this.users.set(k, { companyId, userId, revision, profile: kept });
    this.hub.emit([userPut(revision, companyId, userId, kept)]);
    return { revision, created: true };
  }

  async updateUser(companyId: string, userId: string, profile: UserProfile | undefined): Promise<WriteResult> {
    this.assertOpen();
    const user = this.users.get(key(companyId, userId));
    if (!this.companies.has(companyId)) throw companyNotFound(companyId);
    if (!user) throw userNotFound(companyId, userId);
    const revision = ++this.rev;
    user.profile = compactProfile(profile);
    this.hub.emit([userPut(revision, companyId, userId, user.profile)]);
    return { revision };
  }

  async deleteUser(companyId: string, userId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    const k = key(companyId, userId);
    if (!this.users.has(k)) return { revision: this.rev, deleted: false };
    const revision = ++this.rev;
    this.users.delete(k);
    for (const [fk, f] of this.faces) if (f.companyId === companyId && f.userId === userId) this.faces.delete(fk);
    this.hub.emit([{ revision, type: "user.delete", companyId, userId }]);
    return { revision, deleted: true };
  }

  async addFace(face: FaceRecord): Promise<WriteResult & { created: boolean }> {
    this.assertOpen();
    const k = key(face.companyId, face.userId, face.faceId);
    if (this.faces.has(k)) return { revision: this.rev, created: false };
    if (!this.companies.has(face.companyId)) throw companyNotFound(face.companyId);
    if (!this.users.has(key(face.companyId, face.userId))) throw userNotFound(face.companyId, face.userId);
    const revision = ++this.rev;
    const stored: FaceRecord = { ...face, embedding: Float32Array.from(face.embedding) };
    this.faces.set(k, { ...stored, revision });
    this.hub.emit([{ revision, type: "face.put", face: { ...stored, embedding: stored.embedding.slice() } }]);
    return { revision, created: true };
  }

  async deleteFace(companyId: string, userId: string, faceId: string): Promise<WriteResult & { deleted: boolean }> {
    this.assertOpen();
    const k = key(companyId, userId, faceId);
    if (!this.faces.has(k)) return { revision: this.rev, deleted: false };
    const revision = ++this.rev;
    this.faces.delete(k);
    this.hub.emit([{ revision, type: "face.delete", companyId, userId, faceId }]);
    return { revision, deleted: true };
  }

  async isInitialised(): Promise<boolean> {
    return this.initialised;
  }

  async bulkLoad(data: BulkLoad, options: BulkLoadOptions = {}): Promise<WriteResult & { companies: number; users: number; faces: number }> {
    this.assertOpen();
    if (options.markInitialised) this.initialised = true;
    const events: StoreEvent[] = [];
    let companies = 0;
    let users = 0;
    let faces = 0;
    for (const companyId of data.companies) {
      if (this.companies.has(companyId)) continue;
      const revision = ++this.rev;
      this.companies.set(companyId, revision);
      events.push({ revision, type: "company.put", companyId });
      companies++;
    }
    for (const { companyId, userId, profile } of data.users) {
      const k = key(companyId, userId);
      if (this.users.has(k) || !this.companies.has(companyId)) continue;
      const revision = ++this.rev;
      const kept = compactProfile(profile);
      this.users.set(k, { companyId, userId, revision, profile: kept });
      events.push(userPut(revision, companyId, userId, kept));
      users++;
    }
    for (const face of data.faces) {
      const k = key(face.companyId, face.userId, face.faceId);
      if (this.faces.has(k) || !this.users.has(key(face.companyId, face.userId))) continue;
      const revision = ++this.rev;
      const stored: FaceRecord = { ...face, embedding: Float32Array.from(face.embedding) };
      this.faces.set(k, { ...stored, revision });
      events.push({ revision, type: "face.put", face: { ...stored, embedding: stored.embedding.slice() } });
      faces++;
    }
    this.hub.emit(events);
    return { revision: this.rev, companies, users, faces };
  }

  close(): void {
    this.closed = true;
    this.hub.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError("store closed");
  }
}
