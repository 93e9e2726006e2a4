/**
 * Which model a company is served with, when the engine fuses two recognizers (FACE_EMBEDDERS).
 *
 * A company's vectors are of one model (the gallery's rule). A company enrolled before fusion was switched
 * on holds vectors of one of the fused models (fr_feature): it is served as it is, with that model's slice
 * of each fused embedding (`partEmbedding`) and that model's calibration; new faces enrolled into it are
 * stored as that slice too, so it stays consistent. Every other company (new, or emptied and enrolled
 * again) gets fused vectors. A company of a model that is neither is `MODEL_MISMATCH`, as before.
 */
import { type EmbeddingPart, type EngineInfo, normalize } from "../core/internal.ts";

export interface ServedModel {
  modelId: string;
  dim: number;
  /** Set when the company holds one fused model's vectors (an old gallery): the slice it is served with. */
  part?: EmbeddingPart;
}

export class ModelRouting {
  private readonly engine: ServedModel;
  private readonly parts: readonly EmbeddingPart[];

  constructor(info: EngineInfo) {
    this.engine = { modelId: info.modelId, dim: info.embeddingDim };
    this.parts = info.parts ?? [];
  }

  /** The fused models (empty without fusion). */
  get fusedParts(): readonly EmbeddingPart[] {
    return this.parts;
  }

  /** The model a company is served with, from the model its gallery holds (null: no faces yet). */
  forCompany(held: { model: string; dim: number } | null): ServedModel {
    if (held) {
      const part = this.parts.find((p) => p.modelId === held.model && p.dim === held.dim);
      if (part) return { modelId: part.modelId, dim: part.dim, part };
    }
    return this.engine;
  }

  /** An engine embedding as the served model sees it: the part's slice, normalised, or the vector itself. */
  project(embedding: ArrayLike<number>, served: ServedModel): Float32Array {
    if (!served.part || embedding.length !== this.engine.dim) return normalize(embedding);
    const { offset, dim } = served.part;
    return normalize(Float32Array.from({ length: dim }, (_, k) => embedding[offset + k]));
  }

  /**
   * Whether a caller's vector of `dim` values can be searched in a company served with `served`: its own
   * dimension, or the engine's fused vector when the company holds one of its parts (then projected).
   */
  accepts(dim: number, served: ServedModel): boolean {
    return dim === served.dim || (served.part !== undefined && dim === this.engine.dim);
  }
}
