/**
 * POST /v1/companies/:company/enroll-batch: up to ENROLL_BATCH_MAX photos in one request, each
 * enrolled on its own (a new person is created with their first photo, the others are added), with
 * one outcome per item, in order: enrolled, duplicate (the gallery holds that face already), quality
 * (the gate's reason), no_face, invalid_image, model_mismatch, error, or not_done when the run had to
 * stop (the server busy or closing, the deadline): partial success is the normal answer, and every
 * item's outcome is what happened to it. The console's bulk enrollment sends its zip through it.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { type CallOptions, FaceError, IDEMPOTENCY_KEY_MAX, IdSchema, UserMetadataSchema, UserNameSchema } from "../../lib/core/mod.ts";
import { enrollOne, type EnrollOutcome } from "../desk/enroll-one.ts";
import type { AnyRoute, RouteDef } from "./routes.ts";
import { WireImageSchema } from "./wire.ts";

/** Items per request: 32 photos of ~20-200 KB stay well inside MAX_BODY_BYTES and the request deadline. */
export const ENROLL_BATCH_MAX = 32;

export const EnrollBatchBody = z.object({
  items: z
    .array(
      z.object({
        user_id: IdSchema,
        face_id: IdSchema,
        image: WireImageSchema,
        name: UserNameSchema.optional().describe("Given to a person this item creates"),
        metadata: UserMetadataSchema.optional(),
      }),
    )
    .min(1, "items must not be empty")
    .max(ENROLL_BATCH_MAX, `at most ${ENROLL_BATCH_MAX} items`),
});

const OUTCOMES = ["enrolled", "duplicate", "quality", "no_face", "invalid_image", "model_mismatch", "error", "not_done"] as const;
type BatchOutcome = EnrollOutcome | "not_done";

export const EnrollBatchResponseBody = z.object({
  results: z.array(
    z.object({
      index: z.number().int(),
      user_id: z.string(),
      face_id: z.string(),
      outcome: z.enum(OUTCOMES),
      created_user: z.boolean().optional().describe("This item created the person"),
      code: z.string().optional().describe("The error code behind an outcome other than enrolled"),
      message: z.string().optional(),
    }),
  ),
  counts: z.record(z.enum(OUTCOMES), z.number().int()),
  stopped: z.object({ code: z.string(), message: z.string() }).optional().describe("Why the items marked not_done were not tried (send them again)"),
});

function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

export function enrollBatchRoutes(): AnyRoute[] {
  return [
    route({
      method: "POST",
      path: "/v1/companies/:company/enroll-batch",
      operationId: "enroll_batch",
      engine: true,
      summary: `Enroll up to ${ENROLL_BATCH_MAX} photos (each creates its person or adds a face); one outcome per item, partial success allowed`,
      tag: "users",
      scope: "enroll",
      body: { schema: EnrollBatchBody, kinds: ["json"] },
      ok: { status: 200, schema: EnrollBatchResponseBody, description: "one result per item, in order" },
      errors: ["COMPANY_NOT_FOUND"],
      async run({ api, params, body, opts }) {
        const companyId = params.company;
        // an unknown company is the request's error, not every item's
        await api.getOperatingPoint({ companyId }, opts);
        const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<BatchOutcome, number>;
        const results: Array<z.input<typeof EnrollBatchResponseBody>["results"][number]> = [];
        let stopped: { code: string; message: string } | undefined;
        // sequential: inference is CPU-bound; items of one person in order (the first creates them)
        for (const [index, item] of body.items.entries()) {
          const base = { index, user_id: item.user_id, face_id: item.face_id };
          if (stopped) {
            results.push({ ...base, outcome: "not_done" });
            counts.not_done++;
            continue;
          }
          try {
            const profile = item.name !== undefined || item.metadata !== undefined ? { name: item.name, metadata: item.metadata } : undefined;
            const r = await enrollOne(api, { companyId, userId: item.user_id, faceId: item.face_id, image: item.image, profile }, undefined, itemOptions(opts, index));
            counts[r.outcome]++;
            results.push({
              ...base,
              outcome: r.outcome,
              ...(r.createdUser ? { created_user: true } : {}),
              ...(r.code !== undefined ? { code: r.code, message: r.message } : {}),
            });
          } catch (error) {
            const e = FaceError.from(error);
            stopped = { code: e.code, message: e.message };
            results.push({ ...base, outcome: "not_done", code: e.code, message: e.message });
            counts.not_done++;
          }
        }
        return { body: { results, counts, ...(stopped ? { stopped } : {}) } };
      },
    }),
  ];
}

/**
 * Each item is its own write: the batch's Idempotency-Key names the batch, so every item gets a key
 * derived from it and its index (one key for all of them would be refused as reused for another
 * request; a retried batch repeats each item's first answer).
 */
export function itemOptions(opts: CallOptions, index: number): CallOptions {
  const key = opts.idempotencyKey;
  if (key === undefined) return opts;
  const suffix = `.item-${index}`;
  const base = key.length + suffix.length <= IDEMPOTENCY_KEY_MAX ? key : createHash("sha256").update(key).digest("hex");
  return { ...opts, idempotencyKey: base + suffix };
}
