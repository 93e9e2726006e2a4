/**
 * One company's rows: a contiguous Float32Array of L2-normalised embeddings (capacity doubles when
 * full) with parallel arrays row → user slot and row → face id; delete = swap-with-last, so rows stay
 * dense and a search is one pass of the company's search kernel. Runtime-free.
 */
import { FaceError } from "./errors.ts";
import type { SearchHit } from "./gallery.ts";
import type { CompanySettings } from "./store.ts";
import { normalize } from "./vectors.ts";
import type { KernelFactory, SearchKernel } from "./search-kernel.ts";

interface UserEntry {
  slot: number;
  /** faceId → row */
  faces: Map<string, number>;
}

const INITIAL_ROWS = 16;

/** One company's rows. Exposed for benchmarks and kernels; use Gallery in application code. */
export class CompanyIndex {
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
  /** The company's own operating point (store event `company.put` with settings). */
  settings: CompanySettings | null = null;

  constructor(readonly companyId: string, kernelFactory: KernelFactory) {
    this.kernel = kernelFactory();
  }

  addUser(userId: string): UserEntry {
    let user = this.users.get(userId);
    if (user) return user;
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slotIds.length;
    if (slot === this.slotIds.length) this.slotIds.push(userId);
    else this.slotIds[slot] = userId;
    user = { slot, faces: new Map() };
    this.users.set(userId, user);
    return user;
  }

  deleteUser(userId: string): boolean {
    const user = this.users.get(userId);
    if (!user) return false;
    for (const faceId of [...user.faces.keys()]) this.deleteFace(userId, faceId);
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
    return true;
  }

  deleteFace(userId: string, faceId: string): boolean {
    const user = this.users.get(userId);
    const row = user?.faces.get(faceId);
    if (!user || row === undefined) return false;
    user.faces.delete(faceId);
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
    if (this.count === 0) this.model = null;
    return true;
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

  /** Per-user best face, top-k users (see the module comment for ties). */
  search(query: Float32Array, k: number, minScore: number): SearchHit[] {
    if (k <= 0 || this.count === 0) return [];
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
