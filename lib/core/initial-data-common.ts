/**
 * What both initial-data formats share (initial-data.ts: facegate's; initial-data-old.ts: the old
 * system's): the report they parse into and the vector checks. Its own file so that neither format
 * imports the other's module for them. Runtime-free.
 */
import type { BulkLoad } from "./store.ts";

export interface InitialDataCounts {
  companies: number;
  users: number;
  faces: number;
  embeddings: number;
}

export interface InitialDataReport {
  /** Which format the document was in. */
  format: "old" | "facegate";
  /** What is loaded: valid, consistent records only. */
  data: BulkLoad;
  /** Model id the faces are stored with. */
  model: string | null;
  dim: number | null;
  /** Issues, at most `maxWarnings` of them listed (then one "... and N more" line). */
  warnings: string[];
  /** How many issues there were in all (listed or not). */
  warningCount: number;
  /** Fatal: nothing is loaded when there is one. */
  errors: string[];
  /** MODEL_MISMATCH when the errors are a refusal of vectors of another model (initial-data-model.ts). */
  errorCode?: "MODEL_MISMATCH";
  stats: { file: InitialDataCounts; loaded: InitialDataCounts };
}

export interface ParseOptions {
  /** The engine's embedding dimension (otherwise: the most common length in the file). */
  expectedDim?: number;
  /**
   * The engine's model id. facegate's format naming none: assumed. The old format naming none: its
   * vectors are the old system's, refused unless the engine runs that model (initial-data-model.ts).
   * A file's model different from it is a warning (recognition there is MODEL_MISMATCH, never a search).
   */
  engineModel?: string;
  /** INITIAL_DATA_MODEL: the model of a file that names none (the operator's declaration). */
  declaredModel?: string;
  /**
   * Other models the engine serves, with their dimensions: the fused models of FACE_EMBEDDERS (a gallery of
   * one of them is served with its slice of the fused embedding).
   */
  servedModels?: readonly { model: string; dim: number }[];
  /** At most this many warnings are listed (the rest are counted). */
  maxWarnings?: number;
}

/**
 * The vector as a unit Float32Array, or why it cannot be loaded. Shared by both formats: the checks
 * (dimension, non-finite values, zero vector) are the same.
 */
export function unitVector(values: ReadonlyArray<number | null>, dim: number | null): Float32Array | string {
  if (dim !== null && values.length !== dim) return `has dimension ${values.length}, expected ${dim}`;
  const bad = values.findIndex((x) => x === null || !Number.isFinite(x));
  if (bad >= 0) return `has a non-finite value at index ${bad}`;
  let norm = 0;
  for (const x of values as number[]) norm += x * x;
  if (!(norm > 0)) return "is a zero vector";
  const inv = 1 / Math.sqrt(norm);
  return Float32Array.from(values as number[], (x) => x * inv);
}

/** The most common vector length (ties: the longer), null when there are none. */
export function commonDimension(lengths: Iterable<number>): number | null {
  const byLength = new Map<number, number>();
  for (const n of lengths) byLength.set(n, (byLength.get(n) ?? 0) + 1);
  const sorted = [...byLength.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  return sorted[0]?.[0] ?? null;
}

