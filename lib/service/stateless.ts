/**
 * The stateless operations (no gallery): detect, embed, compare, verify. Functions of the engine and
 * the validated request, so the service class only composes them.
 */
import { cosineSimilarity, FaceError, normalize } from "../core/internal.ts";
import type {
  CallOptions,
  CompareMatch,
  CompareRequestSchema,
  CompareResult,
  DetectResult,
  EmbedResult,
  VerifyRequest,
  VerifyResult,
} from "../core/internal.ts";
import type { AnalyzedFace, FaceEngine } from "../engine/internal.ts";
import type { z } from "zod";

/**
 * Image problems already come from the engine as FaceErrors (INVALID_IMAGE, IMAGE_TOO_LARGE); any
 * other failure is the engine's own (a runtime error, a dead worker), not the caller's: INTERNAL.
 */
export function engineFailure(error: unknown): FaceError {
  if (error instanceof FaceError) return error;
  return new FaceError("INTERNAL", `engine failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}


/** `sourceScale`: the image was downscaled this many times from the caller's original (CallOptions.imageScales). */
export async function analyzeImage(engine: FaceEngine, image: unknown, maxFaces?: number, sourceScale?: number): Promise<AnalyzedFace[]> {
  const options = { ...(maxFaces !== undefined ? { maxFaces } : {}), ...(sourceScale !== undefined ? { sourceScale } : {}) };
  try {
    return await engine.analyze(image as Uint8Array, Object.keys(options).length > 0 ? options : undefined);
  } catch (error) {
    throw engineFailure(error);
  }
}

/** The engine's preferred face (score, then size); NO_FACE if none. */
export async function bestFace(engine: FaceEngine, image: unknown, which?: string, sourceScale?: number): Promise<AnalyzedFace> {
  const faces = await analyzeImage(engine, image, 1, sourceScale);
  if (faces.length === 0) {
    throw new FaceError("NO_FACE", `no face detected in ${which ?? "the image"}`, which ? { details: { image: which } } : {});
  }
  return faces[0];
}

export function euclidean(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

export async function detectFaces(engine: FaceEngine, image: unknown, sourceScale?: number): Promise<DetectResult> {
  let faces;
  try {
    faces = await engine.detect(image as Uint8Array, sourceScale !== undefined ? { sourceScale } : undefined);
  } catch (error) {
    throw engineFailure(error);
  }
  return { facesCount: faces.length, faces };
}

export async function generateEmbedding(engine: FaceEngine, image: unknown, modelId: string, sourceScale?: number): Promise<EmbedResult> {
  const face = await bestFace(engine, image, undefined, sourceScale);
  return { embedding: Array.from(normalize(face.embedding)), detectionScore: face.score, bbox: face.bbox, model: modelId };
}

export function compare(r: z.output<typeof CompareRequestSchema>): CompareResult {
  const dim = r.queryEmbedding.length;
  const bad = r.referenceEmbeddings.findIndex((e) => e.embedding.length !== dim);
  if (bad >= 0) {
    throw new FaceError(
      "INVALID_ARGUMENT",
      `reference ${JSON.stringify(r.referenceEmbeddings[bad].id)} has ${r.referenceEmbeddings[bad].embedding.length} dimensions; the query has ${dim}`,
      { details: { index: bad, id: r.referenceEmbeddings[bad].id } },
    );
  }
  const matches: CompareMatch[] = r.referenceEmbeddings.map(({ id, embedding }) => {
    const similarity = cosineSimilarity(r.queryEmbedding, embedding);
    const distance = r.distanceMetric === "cosine" ? 1 - similarity : euclidean(r.queryEmbedding, embedding);
    return { id, distance, similarity };
  });
  // best first: smallest distance; ties keep the given order (stable sort)
  matches.sort((a, b) => a.distance - b.distance);
  return { bestMatch: matches[0] ?? null, matches };
}

/** Pair verification uses the fixed pair threshold (1:1: no gallery size to account for). */
export async function verify(
  engine: FaceEngine,
  r: VerifyRequest,
  threshold: number,
  scales: CallOptions["imageScales"] = {},
): Promise<VerifyResult> {
  const t0 = performance.now();
  const [a, b] = await Promise.all([
    bestFace(engine, r.image1, "image1", scales.image1),
    bestFace(engine, r.image2, "image2", scales.image2),
  ]);
  const cos = cosineSimilarity(a.embedding, b.embedding);
  return {
    isMatch: cos >= threshold,
    confidence: cos,
    threshold,
    metrics: { cosineSimilarity: cos, euclideanDistance: euclidean(normalize(a.embedding), normalize(b.embedding)) },
    processingMs: performance.now() - t0,
  };
}
