/**
 * The in-memory gallery: companies → users → faces → embeddings, fed by store events.
 *
 * Per company one contiguous Float32Array of L2-normalised rows (capacity doubles when full) with
 * parallel arrays (row → user slot, row → face id); delete = swap-with-last, so rows stay dense and
 * a search is one linear pass. Runtime-free: no `node:`/`bun:` imports.
 *
 * Semantics (documented in docs/core.md):
 * - `apply(event)` is idempotent and ordered: an event whose revision is ≤ the applied revision is
 *   ignored; every change is also content-idempotent (put of an existing record, delete of an absent one
 *   are no-ops). Children never create their parents: a user of an unknown company or a face of an
 *   unknown user is skipped with a warning (the stores check parents inside their writes, so this
 *   only meets damaged data), so a deleted person can never come back through a late event.
 * - Each company has one model id and dimension, fixed by its first face and released when its last face
 *   goes; a face or query of another model/dimension is `MODEL_MISMATCH`.
 * - `search` returns the top-k users, best first, each scored by their template (the normalised mean of
 *   their faces; `score: "max"`: by their best face), with their best-matching face. Ties: equal scores order by user id (then face id within a user), ascending, so results are
 *   deterministic. An unknown company, a company without faces or k = 0 gives [].
 */
import { FaceError } from "./errors.ts";
import { normalize } from "./vectors.ts";
import type { CompanySettings, FaceRecord, StoreEvent } from "./store.ts";
import type { UserProfile } from "./user-profile.ts";
import { bestKernel } from "./int8-kernel.ts";
import type { KernelFactory } from "./search-kernel.ts";
import { CompanyIndex, type SearchHit, type UserScore } from "./company-index.ts";

export { CompanyIndex, type CompanyIndexOptions, type SearchHit, type UserScore } from "./company-index.ts";

export interface SearchOptions {
  /** Number of users to return (default 1). */
  k?: number;
  /** Model id of the query; checked against the company's model when given. */
  model?: string;
  /** Only users whose score is ≥ this are returned. */
  minScore?: number;
}

export interface CompanyGalleryStats {
  users: number;
  faces: number;
  model: string | null;
  dim: number;
}

export interface GalleryStats {
  companies: number;
  users: number;
  faces: number;
  /** Stored embeddings; equals faces (every face holds exactly one embedding). */
  embeddings: number;
  /** Bytes of float rows allocated (capacity, not count). */
  bytes: number;
  revision: number;
  perCompany: Record<string, CompanyGalleryStats>;
}

export interface GalleryExport {
  companies: string[];
  users: Array<{ companyId: string; userId: string; profile?: UserProfile }>;
  faces: FaceRecord[];
}


type Waiter = { revision: number; resolve: () => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

export interface GalleryOptions {
  /** Called for events that cannot be applied (e.g. a face of another model); default console.warn. */
  onWarning?: (message: string) => void;
  /** Search kernel per company (default: int8 WebAssembly SIMD + exact re-rank where available, see int8-kernel.ts). */
  kernel?: KernelFactory;
  /** How users are scored: their template, the normalised mean of their faces ("mean", default), or their best face ("max"). */
  score?: UserScore;
}

export class Gallery {
  private readonly companies = new Map<string, CompanyIndex>();
  private applied = 0;
  private waiters: Waiter[] = [];
  private readonly onWarning: (message: string) => void;
  private readonly kernelFactory: KernelFactory;
  private readonly score: UserScore;
  /** Events skipped because they could not be applied (model mismatch, bad vector). */
  skipped = 0;

  constructor(options: GalleryOptions = {}) {
    this.onWarning = options.onWarning ?? ((m) => console.warn(`[gallery] ${m}`));
    this.kernelFactory = options.kernel ?? (() => bestKernel());
    this.score = options.score ?? "mean";
  }

  /** The last store revision applied. */
  get revision(): number {
    return this.applied;
  }

  /**
   * Applies one store event. Returns false when it was ignored (revision already applied).
   * Never throws for data problems: those are reported through onWarning and counted in `skipped`.
   */
  apply(event: StoreEvent): boolean {
    if (event.revision <= this.applied) return false;
    try {
      this.applyChange(event);
    } catch (error) {
      this.skipped++;
      this.onWarning(`revision ${event.revision} (${event.type}) not applied: ${(error as Error).message}`);
    }
    this.advanceTo(event.revision);
    return true;
  }

  /** Marks every revision ≤ `revision` applied (the store says nothing else happened up to there). */
  advanceTo(revision: number): void {
    if (revision <= this.applied) return;
    this.applied = revision;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.revision <= revision) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  /** Resolves once `revision` is applied; TIMEOUT FaceError after `timeoutMs`. */
  waitForRevision(revision: number, timeoutMs: number): Promise<void> {
    if (revision <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        revision,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            new FaceError("TIMEOUT", `revision ${revision} not applied within ${timeoutMs} ms (at ${this.applied})`, {
              details: { revision, applied: this.applied },
            }),
          );
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private applyChange(event: StoreEvent): void {
    switch (event.type) {
      case "company.put": {
        const c = this.company(event.companyId, true)!;
        if (event.settings !== undefined) c.settings = event.settings;
        return;
      }
      case "company.delete":
        this.companies.delete(event.companyId);
        return;
      case "user.put": {
        // a put is the user's state as of its revision: the profile is replaced (absent: none)
        const user = this.existingCompany(event.companyId).addUser(event.userId);
        if (event.profile) user.profile = event.profile;
        else delete user.profile;
        return;
      }
      case "user.delete":
        this.companies.get(event.companyId)?.deleteUser(event.userId);
        return;
      case "face.put": {
        const f = event.face;
        const c = this.existingCompany(f.companyId);
        if (!c.users.has(f.userId)) throw new Error(`face ${JSON.stringify(f.faceId)} of unknown user ${JSON.stringify(f.userId)}`);
        c.addFace(f.userId, f.faceId, f.embedding, f.model);
        return;
      }
      case "face.delete":
        this.companies.get(event.companyId)?.deleteFace(event.userId, event.faceId);
        return;
      default: {
        // "sync" and any future event types only advance the revision
        return;
      }
    }
  }

  /** Releases the rows' unused capacity in every company (after the replay: see CompanyIndex.trim). */
  trim(): void {
    for (const c of this.companies.values()) c.trim();
  }

  private company(companyId: string, create: boolean): CompanyIndex | undefined {
    let c = this.companies.get(companyId);
    if (!c && create) {
      c = new CompanyIndex(companyId, this.kernelFactory, { templates: this.score === "mean" });
      this.companies.set(companyId, c);
    }
    return c;
  }

  private existingCompany(companyId: string): CompanyIndex {
    const c = this.companies.get(companyId);
    if (!c) throw new Error(`unknown company ${JSON.stringify(companyId)}`);
    return c;
  }

  /** The company's own operating-point settings, or undefined. */
  companySettings(companyId: string): CompanySettings | undefined {
    return this.companies.get(companyId)?.settings ?? undefined;
  }

  hasCompany(companyId: string): boolean {
    return this.companies.has(companyId);
  }

  hasUser(companyId: string, userId: string): boolean {
    return this.companies.get(companyId)?.users.has(userId) ?? false;
  }

  hasFace(companyId: string, userId: string, faceId: string): boolean {
    return this.companies.get(companyId)?.users.get(userId)?.faces.has(faceId) ?? false;
  }

  /** The user's name and metadata, or undefined (none, or an unknown user). */
  userProfile(companyId: string, userId: string): UserProfile | undefined {
    return this.companies.get(companyId)?.users.get(userId)?.profile;
  }

  /** The user's display name, or undefined. */
  userName(companyId: string, userId: string): string | undefined {
    return this.userProfile(companyId, userId)?.name;
  }

  /** Face ids of a user in the order they were added; [] if the company or user is unknown. */
  getUserFaces(companyId: string, userId: string): string[] {
    const user = this.companies.get(companyId)?.users.get(userId);
    return user ? [...user.faces.keys()] : [];
  }

  /** The stored (normalised) embedding of a face, or undefined. */
  getEmbedding(companyId: string, userId: string, faceId: string): Float32Array | undefined {
    const c = this.companies.get(companyId);
    const row = c?.users.get(userId)?.faces.get(faceId);
    if (!c || row === undefined) return undefined;
    return c.data.slice(row * c.dim, (row + 1) * c.dim);
  }

  companyIds(): string[] {
    return [...this.companies.keys()];
  }

  /** The company's model while it holds faces. */
  companyModel(companyId: string): { model: string; dim: number } | null {
    const c = this.companies.get(companyId);
    return c && c.count > 0 && c.model !== null ? { model: c.model, dim: c.dim } : null;
  }

  /** Throws MODEL_MISMATCH if a face of `model`/`dim` cannot join the company. Unknown company: no-op. */
  checkModel(companyId: string, model: string, dim: number): void {
    this.companies.get(companyId)?.checkModel(model, dim);
  }

  /** For benchmarks and kernels. */
  index(companyId: string): CompanyIndex | undefined {
    return this.companies.get(companyId);
  }

  search(companyId: string, query: ArrayLike<number>, options: SearchOptions = {}): SearchHit[] {
    const c = this.companies.get(companyId);
    if (!c || c.count === 0) return [];
    c.checkModel(options.model ?? c.model!, query.length);
    const q = normalize(query);
    return c.search(q, Math.floor(options.k ?? 1), options.minScore ?? -Infinity);
  }

  stats(): GalleryStats {
    const perCompany: Record<string, CompanyGalleryStats> = {};
    let users = 0;
    let faces = 0;
    let bytes = 0;
    for (const [id, c] of this.companies) {
      perCompany[id] = { users: c.users.size, faces: c.count, model: c.model, dim: c.dim };
      users += c.users.size;
      faces += c.count;
      bytes += c.bytes();
    }
    return { companies: this.companies.size, users, faces, embeddings: faces, bytes, revision: this.applied, perCompany };
  }

  /** Everything, in a stable order (companies, users, faces by id). */
  export(): GalleryExport {
    const out: GalleryExport = { companies: [], users: [], faces: [] };
    for (const companyId of [...this.companies.keys()].sort()) {
      const c = this.companies.get(companyId)!;
      out.companies.push(companyId);
      for (const userId of [...c.users.keys()].sort()) {
        const user = c.users.get(userId)!;
        out.users.push(user.profile ? { companyId, userId, profile: user.profile } : { companyId, userId });
        for (const faceId of [...user.faces.keys()].sort()) {
          const row = user.faces.get(faceId)!;
          out.faces.push({
            companyId,
            userId,
            faceId,
            embedding: c.data.slice(row * c.dim, (row + 1) * c.dim),
            model: c.model!,
          });
        }
      }
    }
    return out;
  }

  /** Rejects every waiter (UNAVAILABLE) and drops all data. */
  clear(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new FaceError("UNAVAILABLE", "gallery closed"));
    }
    this.waiters = [];
    this.companies.clear();
  }
}
