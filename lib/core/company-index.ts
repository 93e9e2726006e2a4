/**
 * One company's rows: a contiguous Float32Array of L2-normalised embeddings (capacity doubles when
 * full) with parallel arrays row → user slot and row → face id; delete = swap-with-last, so rows stay
 * dense and a search is one pass of the company's search kernel. Runtime-free.
 *
 * With `templates`, each user also has a template, the normalised mean of their faces, kept in a
 * nested index (one row per user) that the search kernel scans: decisions are on the user, and the
 * best-matching face of each returned user is found exactly among that user's own rows. The mean is
 * recomputed from the user's rows when their faces change (one face: the face itself; no float64
 * sum is kept per user: it cost 4 KiB per multi-face user, twice a row). On LFW,
 * two enrolled photos per person: FNIR at FPIR 1 % 2.4 % with the mean, 2.9 % with the best face
 * (README, "Accuracy and operating points").
 */
import { FaceError } from "./errors.ts";
import type { CompanySettings } from "./store.ts";
import type { UserProfile } from "./user-profile.ts";
import { normalize } from "./vectors.ts";
import { dotRow, JsKernel, type KernelFactory, type KernelRows, type SearchKernel } from "./search-kernel.ts";

export interface SearchHit {
  userId: string;
  /** The user's best-matching face. */
  faceId: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}
import { FaceRows } from "./face-rows.ts";

interface UserEntry {
  slot: number;
  /** faceId → row */
  faces: FaceRows;
  /** Name and metadata (user-profile.ts), when there are any. */
  profile?: UserProfile;
}

export interface CompanyIndexOptions {
  /** Keep per-user templates and search them (the gallery's default); without, users are scored by their best face. */
  templates?: boolean;
}

/** How a user is scored against a query: their template (normalised mean of faces) or their best face. */
export type UserScore = "mean" | "max";

const TEMPLATE_ROW = "template";

const INITIAL_ROWS = 16;

/** One company's rows. Exposed for benchmarks and kernels; use Gallery in application code. */
export class CompanyIndex implements KernelRows {
  model: string | null = null;
  dim = 0;
  data = new Float32Array(0);
  count = 0;
  capacity = 0;
  rowUser = new Int32Array(0);
  rowFace: string[] = [];
  readonly users = new Map<string, UserEntry>();
  slotIds: Array<string | undefined> = [];
  private readonly freeSlots: number[] = [];
  /** Scratch for search: best score and row per user slot. */
  private bestScore = new Float64Array(0);
  private bestRow = new Int32Array(0);
  readonly kernel: SearchKernel;
  /** Users with 2+ faces (their template is a mean, not a photo: the operating point accounts for them). */
  multiFaceUsers = 0;
  /** The company's own operating point (store event `company.put` with settings). */
  settings: CompanySettings | null = null;

  /** One row per user: their template (null without `templates`). */
  readonly templates: CompanyIndex | null;

  constructor(readonly companyId: string, kernelFactory: KernelFactory, options: CompanyIndexOptions = {}) {
    this.templates = options.templates ? new CompanyIndex(companyId, kernelFactory) : null;
    // with templates the face rows are never scanned: no kernel copy of them
    this.kernel = this.templates ? new JsKernel() : kernelFactory();
  }

  addUser(userId: string): UserEntry {
    let user = this.users.get(userId);
    if (user) return user;
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slotIds.length;
    if (slot === this.slotIds.length) this.slotIds.push(userId);
    else this.slotIds[slot] = userId;
    user = { slot, faces: new FaceRows() };
    this.users.set(userId, user);
    return user;
  }

  deleteUser(userId: string): boolean {
    const user = this.users.get(userId);
    if (!user) return false;
    for (const faceId of [...user.faces.keys()]) this.deleteFace(userId, faceId);
    this.templates?.deleteUser(userId);
    this.users.delete(userId);
    this.slotIds[user.slot] = undefined;
    this.freeSlots.push(user.slot);
    return true;
  }

  /** Throws MODEL_MISMATCH when `model`/`dim` differ from the company's (free while it has no faces). */
  checkModel(model: string, dim: number): void {
    if (this.count === 0 || this.model === null) return;
    if (model !== this.model || dim !== this.dim) {
      throw new FaceError(
        "MODEL_MISMATCH",
        `company ${JSON.stringify(this.companyId)} holds embeddings of model ${this.model} (${this.dim}-d); got ${model} (${dim}-d)`,
        { details: { companyModel: this.model, companyDim: this.dim, model, dim } },
      );
    }
  }

  addFace(userId: string, faceId: string, embedding: Float32Array, model: string): boolean {
    this.checkModel(model, embedding.length);
    const user = this.addUser(userId);
    if (user.faces.has(faceId)) return false;
    if (this.count === 0) {
      if (this.dim !== embedding.length) {
        this.dim = embedding.length;
        this.capacity = 0;
        this.data = new Float32Array(0);
      }
      this.model = model;
    }
    if (this.count === this.capacity) this.grow();
    const row = this.count++;
    this.data.set(normalize(embedding), row * this.dim);
    this.rowUser[row] = user.slot;
    this.rowFace[row] = faceId;
    user.faces.set(faceId, row);
    this.kernel.set(row, this.data.subarray(row * this.dim, (row + 1) * this.dim), this);
    if (user.faces.size === 2) this.multiFaceUsers++;
    if (this.templates) this.updateTemplate(userId, user);
    return true;
  }

  /** Float64 sum of a user's rows, in a scratch buffer shared by every index (valid until the next call). */
  private sumOf(user: UserEntry): Float64Array {
    if (sumScratch.length !== this.dim) sumScratch = new Float64Array(this.dim);
    const sum = sumScratch.fill(0);
    for (const row of user.faces.values()) addTo(sum, this.data, row * this.dim, 1);
    return sum;
  }

  /** Writes the user's template row: their face (one face), the normalised sum (2+), or removes it (none). */
  private updateTemplate(userId: string, user: UserEntry): void {
    const t = this.templates!;
    const n = user.faces.size;
    if (n === 0) {
      t.deleteUser(userId);
      return;
    }
    let vector: Float32Array;
    if (n === 1) {
      const row = user.faces.values().next().value as number;
      vector = this.data.subarray(row * this.dim, (row + 1) * this.dim);
    } else {
      vector = normalize(this.sumOf(user));
    }
    t.setRow(userId, TEMPLATE_ROW, vector, this.model!);
  }

  /** Overwrites a face's row in place (added when absent): templates change without a swap. */
  private setRow(userId: string, faceId: string, vector: Float32Array, model: string): void {
    const row = this.users.get(userId)?.faces.get(faceId);
    if (row === undefined) {
      this.addFace(userId, faceId, vector, model);
      return;
    }
    this.data.set(vector, row * this.dim);
    this.kernel.set(row, this.data.subarray(row * this.dim, (row + 1) * this.dim), this);
  }

  deleteFace(userId: string, faceId: string): boolean {
    const user = this.users.get(userId);
    const row = user?.faces.get(faceId);
    if (!user || row === undefined) return false;
    user.faces.delete(faceId);
    if (user.faces.size === 1) this.multiFaceUsers--;
    const last = this.count - 1;
    if (row !== last) {
      // swap-with-last keeps rows dense
      const dim = this.dim;
      this.data.copyWithin(row * dim, last * dim, (last + 1) * dim);
      this.rowUser[row] = this.rowUser[last];
      this.rowFace[row] = this.rowFace[last];
      const moved = this.users.get(this.slotIds[this.rowUser[row]]!)!;
      moved.faces.set(this.rowFace[row], row);
      this.kernel.move(last, row, this);
    }
    this.rowFace.length = last;
    this.count = last;
    if (this.templates) this.updateTemplate(userId, user);
    if (this.count === 0) this.model = null;
    return true;
  }

  /**
   * Releases the capacity beyond the rows held (doubling leaves up to half unused: 28 % at 100
   * users). Run once the replay is done; the next add grows again. Only while the kernel holds no
   * copy of its own (small companies), whose layout depends on the capacity.
   */
  trim(): void {
    this.templates?.trim();
    if (this.capacity <= this.count || this.kernel.bytes() > 0) return;
    const capacity = this.count;
    this.data = this.data.slice(0, capacity * this.dim);
    this.rowUser = this.rowUser.slice(0, capacity);
    this.capacity = capacity;
  }

  private grow(): void {
    const capacity = Math.max(INITIAL_ROWS, this.capacity * 2);
    const data = new Float32Array(capacity * this.dim);
    data.set(this.data.subarray(0, this.count * this.dim));
    const rowUser = new Int32Array(capacity);
    rowUser.set(this.rowUser.subarray(0, this.count));
    this.data = data;
    this.rowUser = rowUser;
    this.capacity = capacity;
    this.kernel.resize(capacity, this);
  }

  /**
   * Top-k users (see the gallery's module comment for ties) with each one's best-matching face. Scored by
   * template with templates, else by the best face.
   */
  search(query: Float32Array, k: number, minScore: number): SearchHit[] {
    if (k <= 0 || this.count === 0) return [];
    if (this.templates) {
      return this.templates.search(query, k, minScore).map((h) => ({ userId: h.userId, faceId: this.bestFace(h.userId, query), score: h.score }));
    }
    return this.searchFaces(query, k, minScore);
  }

  /** The user's face most similar to the query (exact; ties: smaller face id). */
  private bestFace(userId: string, query: Float32Array): string {
    let best = "";
    let bestScore = -Infinity;
    for (const [faceId, row] of this.users.get(userId)!.faces) {
      const s = dotRow(this.data, row * this.dim, query, this.dim);
      if (s > bestScore || (s === bestScore && faceId < best)) {
        best = faceId;
        bestScore = s;
      }
    }
    return best;
  }

  /** Extra bytes: the kernel's, and the templates' rows and kernel. */
  bytes(): number {
    return this.data.byteLength + this.kernel.bytes() + (this.templates ? this.templates.bytes() : 0);
  }

  /** The user's template (normalised mean of their faces), or undefined. */
  template(userId: string): Float32Array | undefined {
    const t = this.templates;
    const row = t?.users.get(userId)?.faces.get(TEMPLATE_ROW);
    return t && row !== undefined ? t.data.slice(row * t.dim, (row + 1) * t.dim) : undefined;
  }

  /** Per-user best face, top-k users. */
  private searchFaces(query: Float32Array, k: number, minScore: number): SearchHit[] {
    const slots = this.slotIds.length;
    if (this.bestScore.length < slots) {
      // invariant between searches: every entry is -Infinity
      this.bestScore = new Float64Array(Math.max(slots, this.bestScore.length * 2)).fill(-Infinity);
      this.bestRow = new Int32Array(this.bestScore.length);
    }
    const best = this.bestScore;
    const bestRow = this.bestRow;
    const touched = this.kernel.bestPerUser(query, this, best, bestRow, k, minScore);
    // top-k over users: a small sorted buffer (k is small; users ≫ k)
    const top: Array<{ slot: number; score: number }> = [];
    const slotIds = this.slotIds;
    const better = (a: number, sa: number, b: number, sb: number): boolean =>
      sa > sb || (sa === sb && slotIds[a]! < slotIds[b]!);
    const consider = (slot: number): void => {
      const s = best[slot];
      if (s === -Infinity || s < minScore) return;
      if (top.length === k && !better(slot, s, top[k - 1].slot, top[k - 1].score)) return;
      let i = top.length < k ? top.length : k - 1;
      if (top.length < k) top.push({ slot, score: s });
      while (i > 0 && better(slot, s, top[i - 1].slot, top[i - 1].score)) {
        top[i] = top[i - 1];
        i--;
      }
      top[i] = { slot, score: s };
    };
    if (touched) {
      for (let i = 0; i < touched.length; i++) consider(touched[i]);
    } else {
      for (let slot = 0; slot < slots; slot++) consider(slot);
    }
    const hits = top.map(({ slot, score }) => ({ userId: slotIds[slot]!, faceId: this.rowFace[bestRow[slot]], score }));
    if (touched) for (let i = 0; i < touched.length; i++) best[touched[i]] = -Infinity;
    else best.fill(-Infinity, 0, slots);
    return hits;
  }
}

let sumScratch = new Float64Array(0);

/** sum += sign × data[off .. off + sum.length) */
function addTo(sum: Float64Array, data: Float32Array, off: number, sign: 1 | -1): void {
  for (let j = 0; j < sum.length; j++) sum[j] += sign * data[off + j];
}
