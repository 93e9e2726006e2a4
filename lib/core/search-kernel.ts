/**
 * Search kernels: how a company's rows are scored against a query. The gallery keeps the exact
 * float rows; a kernel may keep its own derived copy (e.g. int8) in sync through set/move/resize.
 * Runtime-free.
 */
/**
 * What a kernel reads of a company's rows (CompanyIndex implements it): the float rows and, per
 * row, its user slot and face id. A contract here, so that the kernels need no import of the index.
 */
export interface KernelRows {
  readonly dim: number;
  /** `count` rows of `dim` floats, L2-normalised; room for `capacity` rows. */
  readonly data: Float32Array;
  readonly count: number;
  readonly capacity: number;
  /** Per row: the user's slot (index into the `best` arrays of `bestPerUser`). */
  readonly rowUser: Int32Array;
  /** Per row: the face id (ties between equal scores go to the smaller one). */
  readonly rowFace: readonly string[];
}

export interface SearchKernel {
  readonly name: string;
  /** Row `row` now holds `vector` (already normalised, length = index.dim). */
  set(row: number, vector: Float32Array, index: KernelRows): void;
  /** Row `from` moved to `to` (swap-with-last delete). */
  move(from: number, to: number, index: KernelRows): void;
  /** Capacity changed (rows 0..count-1 are kept). */
  resize(capacity: number, index: KernelRows): void;
  /**
   * For every user slot, the best score over its faces and that row (ties: smaller face id).
   * `best` is pre-filled with -Infinity. Scores must equal the exact float dot product (`dotRow`;
   * re-ranked where a kernel approximates) at least for every user that can reach the top `k` with a
   * score ≥ `minScore`. Returns the slots it wrote (each once), or null when it may have written any.
   */
  bestPerUser(
    query: Float32Array,
    index: KernelRows,
    best: Float64Array,
    bestRow: Int32Array,
    k: number,
    minScore: number,
  ): ArrayLike<number> | null;
  /** Extra bytes the kernel holds. */
  bytes(): number;
}

export type KernelFactory = () => SearchKernel;

/** Exact dot product of row `row` with `q`, unrolled by 4 (JS engines do not vectorise). */
export function dotRow(data: Float32Array, off: number, q: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    s0 += data[off + j] * q[j];
    s1 += data[off + j + 1] * q[j + 1];
    s2 += data[off + j + 2] * q[j + 2];
    s3 += data[off + j + 3] * q[j + 3];
  }
  for (; j < dim; j++) s0 += data[off + j] * q[j];
  return s0 + s1 + s2 + s3;
}

/** Records score `s` of `row` for its user (ties: smaller face id wins). */
export function offer(index: KernelRows, row: number, s: number, best: Float64Array, bestRow: Int32Array): void {
  const u = index.rowUser[row];
  const b = best[u];
  if (s > b || (s === b && index.rowFace[row] < index.rowFace[bestRow[u]])) {
    best[u] = s;
    bestRow[u] = row;
  }
}

/** Plain JS: one pass of exact float dot products. No extra memory. */
export class JsKernel implements SearchKernel {
  readonly name = "js-f32";
  set(): void {}
  move(): void {}
  resize(): void {}
  bytes(): number {
    return 0;
  }
  bestPerUser(query: Float32Array, index: KernelRows, best: Float64Array, bestRow: Int32Array): null {
    const { data, dim, count } = index;
    for (let r = 0, off = 0; r < count; r++, off += dim) {
      offer(index, r, dotRow(data, off, query, dim), best, bestRow);
    }
    return null;
  }
}
