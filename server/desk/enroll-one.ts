/**
 * Enrolling one photo of a person who may or may not exist yet, and what its answer means: the one
 * use case behind `facegate migrate` and the batch endpoint (the console's bulk enrollment).
 * Outcomes are true statements about the gallery: `duplicate` only when it already holds that face.
 */
import { FaceError, type CallOptions, type FaceApi, type UserProfile } from "../../lib/core/mod.ts";

export type EnrollOutcome =
  | "enrolled"
  /** The gallery holds this face already (same company, user and face id): nothing was written. */
  | "duplicate"
  /** Refused by the enrollment quality gate (FACE_QUALITY, FACE_TOO_SMALL, MULTIPLE_FACES); the message says why. */
  | "quality"
  | "no_face"
  | "invalid_image"
  /** The company holds faces of another model: delete them (or the company) first. */
  | "model_mismatch"
  | "error";

export interface EnrollOneResult {
  outcome: EnrollOutcome;
  /** True when this call created the user. */
  createdUser?: boolean;
  code?: string;
  message?: string;
}

const QUALITY = new Set(["FACE_QUALITY", "FACE_TOO_SMALL", "MULTIPLE_FACES"]);
/** The server, the key or the deadline, not the photo: the caller stops (what is done stays done). */
export const STOPPING_CODES: ReadonlySet<string> = new Set(["UNAVAILABLE", "TIMEOUT", "UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED", "INTERNAL", "COMPANY_NOT_FOUND"]);

/** What a refusal means for this photo; throws the errors that are not the photo's (STOPPING_CODES). */
export function outcomeOf(error: unknown): EnrollOneResult {
  const e = FaceError.from(error);
  if (STOPPING_CODES.has(e.code)) throw e;
  const told = { code: e.code, message: e.message };
  if (e.code === "FACE_EXISTS") return { outcome: "duplicate", ...told };
  if (QUALITY.has(e.code)) return { outcome: "quality", ...told };
  if (e.code === "NO_FACE") return { outcome: "no_face", ...told };
  if (e.code === "INVALID_IMAGE" || e.code === "IMAGE_TOO_LARGE" || e.code === "PAYLOAD_TOO_LARGE") return { outcome: "invalid_image", ...told };
  if (e.code === "MODEL_MISMATCH") return { outcome: "model_mismatch", ...told };
  return { outcome: "error", ...told };
}

export interface EnrollOneRequest {
  companyId: string;
  userId: string;
  faceId: string;
  image: Uint8Array | string;
  /** Given to a user created by this call (an existing user's profile is left alone). */
  profile?: UserProfile;
}

/**
 * Creates the user with this face, or adds the face when the user exists (`userExists`: known to,
 * else tried: a createUser of an existing user is refused before any engine work).
 */
export async function enrollOne(api: FaceApi, req: EnrollOneRequest, userExists?: boolean, opts?: CallOptions): Promise<EnrollOneResult> {
  const { companyId, userId, faceId, image } = req;
  try {
    if (userExists !== true) {
      try {
        await api.createUser({ companyId, userId, faceId, image, ...req.profile }, opts);
        return { outcome: "enrolled", createdUser: true };
      } catch (error) {
        if (!FaceError.is(error, "USER_EXISTS")) throw error;
      }
    }
    await api.addFace({ companyId, userId, faceId, image }, opts);
    return { outcome: "enrolled" };
  } catch (error) {
    return outcomeOf(error);
  }
}
