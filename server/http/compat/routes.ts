/**
 * Compatibility routes for backends written against the stateless embed/compare service
 * (../shared/reference/attendance-service-guide.md): `POST /api/v1/embed`, `POST /api/v1/compare`,
 * `GET /api/v1/health`, with that guide's fields; such a backend changes only its base URL (and
 * sends its key as X-API-Key). Errors there are flat: `{"error": "<message>", "error_code": "<CODE>"}`
 * (facegate's codes), with facegate's HTTP statuses.
 */
import { z } from "zod";
import type { FaceError } from "../../../lib/core/mod.ts";
import { runCompare, type AnyRoute, type RouteDef } from "../routes.ts";
import { CompareBody, CompareResponseBody, ImageBody, toWire } from "../wire.ts";

export const COMPAT_PREFIX = "/api/v1/";

export const CompatErrorBody = z.object({ error: z.string(), error_code: z.string() });

/** The flat error body of the compatibility routes. */
export function compatError(e: FaceError): z.infer<typeof CompatErrorBody> {
  return { error: e.message, error_code: e.code };
}

export const CompatEmbedBody = z.object({
  embedding: z.array(z.number()).describe("512 floats, L2-normalised"),
  detection_score: z.number(),
  bbox: z.array(z.number()).describe("[x, y, width, height] of the face used"),
  model: z.string(),
  dimension: z.number().int(),
  processing_time_ms: z.number(),
});

export const CompatHealthBody = z.object({
  status: z.enum(["healthy", "unhealthy"]),
  model: z.string().optional(),
  embedding_dim: z.number().int().optional(),
  response_time_ms: z.number(),
});

function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

export function compatRoutes(): AnyRoute[] {
  return [
    route({
      method: "POST",
      path: "/api/v1/embed",
      operationId: "compat_embed",
      engine: true,
      summary: "Embed/compare service compatibility: {image} → {embedding, detection_score}; errors {error, error_code}",
      tag: "compatibility",
      scope: "any",
      body: { schema: ImageBody, kinds: ["json", "multipart", "raw"], rawImageField: "image" },
      ok: { status: 200, schema: CompatEmbedBody, description: "embedding of the main face" },
      errors: ["INVALID_IMAGE", "IMAGE_TOO_LARGE", "NO_FACE", "FACE_TOO_SMALL"],
      async run({ api, body, opts }) {
        const t0 = performance.now();
        const r = toWire.embed(await api.generateEmbedding({ image: body.image }, opts));
        return { body: { ...r, dimension: r.embedding.length, processing_time_ms: Math.round((performance.now() - t0) * 10) / 10 } };
      },
    }),
    route({
      method: "POST",
      path: "/api/v1/compare",
      operationId: "compat_compare",
      summary:
        "Embed/compare service compatibility: {query_embedding, reference_embeddings: [{id, embedding}], distance_metric} → {best_match: {id, distance, similarity}, matches}",
      tag: "compatibility",
      scope: "any",
      body: { schema: CompareBody, kinds: ["json"] },
      ok: { status: 200, schema: CompareResponseBody, description: "matches, best first" },
      errors: [],
      run: runCompare,
    }),
    route({
      method: "GET",
      path: "/api/v1/health",
      operationId: "compat_health",
      summary: "Embed/compare service compatibility: {status: healthy | unhealthy} (503 when unhealthy)",
      tag: "compatibility",
      scope: "public",
      ok: { status: 200, schema: CompatHealthBody, description: "healthy (503 with status unhealthy)" },
      errors: [],
      async run({ api, ready }) {
        const t0 = performance.now();
        const ms = () => Math.round((performance.now() - t0) * 10) / 10;
        const unhealthy = { status: 503, body: { status: "unhealthy" as const, response_time_ms: 0 } };
        if (!ready()) return { ...unhealthy, body: { ...unhealthy.body, response_time_ms: ms() } };
        try {
          const h = await api.healthCheck();
          const status = String(h.status); // "ok"/"degraded" or the old system's "healthy"
          const ok = status !== "unavailable" && status !== "unhealthy";
          return {
            status: ok ? 200 : 503,
            body: { status: ok ? "healthy" : "unhealthy", model: h.engine?.modelId, embedding_dim: h.engine?.embeddingDim, response_time_ms: ms() },
          };
        } catch {
          return { ...unhealthy, body: { ...unhealthy.body, response_time_ms: ms() } };
        }
      },
    }),
  ];
}
