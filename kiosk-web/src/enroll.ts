/**
 * Enrollment through the HTTP API, one person only.
 *
 * The server enrolls the largest face of each image, so a frame in which someone else is in front
 * of the camera (a passer-by, or a video that cuts away) would add that person's face to the user
 * and let them through the door. So the page first checks every frame, then enrolls:
 *
 * 1. check: `POST /v1/embed` (embedding and box of the face) and `POST /v1/detect` (all faces). A
 *    frame whose largest face is not the embedded one is refused: we could not check the face the
 *    server would store. Frames without a usable face keep the server's code (`NO_FACE`, …);
 * 2. choose: `choosePerson` keeps the frames of the person seen in most frames (cosine with the
 *    mean of that person's frames ≥ the same-person threshold); the others are skipped as
 *    "different person"; when it is unclear who that is, nothing is enrolled;
 * 3. enroll: the person's defining frame creates the user (`POST /v1/companies/:c/users`), the
 *    other frames of that person are added (`POST …/users/:u/faces`). When the user exists already,
 *    the defining frame must first be recognized as that user (`POST …/recognize`). Each stored
 *    embedding is compared with the checked one; a mismatch is deleted again.
 */
import { bboxIou as iou, cosineSimilarity as cosine } from "../../lib/core/vectors.ts";
import { choosePerson, DEFAULT_SAME_PERSON_THRESHOLD, type Embedding } from "./consistency.ts";

export type FrameOutcome =
  | { kind: "checking" }
  | { kind: "enrolled"; faceId: string; similarity: number | null; note: string | null }
  | { kind: "skipped"; similarity: number }
  | { kind: "failed"; code: string; message: string };

export interface EnrollOptions {
  company: string;
  key: string;
  userId: string;
  /** JPEG frames, in capture order. */
  frames: Blob[];
  createCompany: boolean;
  /** When the user exists already, add the frames as faces instead of failing (only frames recognized as that user). */
  addToExisting: boolean;
  /** Cosine similarity a frame needs with the person's frames to be enrolled. */
  sameThreshold?: number;
  onProgress(index: number, outcome: FrameOutcome): void;
}

export interface EnrollSummary {
  enrolled: number;
  /** Frames with a face of someone else than the person being enrolled. */
  differentPerson: number;
  /** Frames without a usable face, refused frames, and server errors. */
  failed: number;
  created: boolean;
  /** Why nothing was enrolled although frames had faces (ambiguous person, not the existing user). */
  refused: string | null;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call(method: string, path: string, key: string, body?: object): Promise<unknown> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (key) headers["X-API-Key"] = key;
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!response.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, err?.code ?? `HTTP_${response.status}`, err?.message ?? (text.slice(0, 200) || response.statusText));
  }
  return json;
}

// The fields of the server's answers this page reads (the server validates them with zod).
type BBox = [number, number, number, number];
interface EmbedAnswer {
  embedding: number[];
  bbox: BBox;
}
interface DetectAnswer {
  faces_count: number;
  bboxes: BBox[];
}
interface EnrolledAnswer {
  embedding: number[];
}
interface RecognizeAnswer {
  user_id: string | null;
  confidence: number;
}

function toDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("could not read the frame"));
    reader.readAsDataURL(blob);
  });
}

const enc = encodeURIComponent;

/** Face ids: `<time>-<n>`, unique per capture so repeated enrollments add faces instead of colliding. */
function faceId(stamp: string, index: number): string {
  return `kiosk-${stamp}-${index + 1}`;
}

/** Auth and scope problems will not get better with the next frame. */
function fatal(error: unknown): error is ApiError {
  return error instanceof ApiError && (error.status === 401 || error.status === 403);
}

interface Checked {
  image: string;
  embedding: Embedding | null;
  /** Faces in view besides the one used, for the frame's line. */
  note: string | null;
}

export async function enroll(opts: EnrollOptions): Promise<EnrollSummary> {
  const { company, key, userId } = opts;
  const threshold = opts.sameThreshold ?? DEFAULT_SAME_PERSON_THRESHOLD;
  const base = `/v1/companies/${enc(company)}`;
  const stamp = new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14);
  const summary: EnrollSummary = { enrolled: 0, differentPerson: 0, failed: 0, created: false, refused: null };
  const fail = (i: number, code: string, message: string) => {
    summary.failed++;
    opts.onProgress(i, { kind: "failed", code, message });
  };
  const failRest = (indexes: number[], code: string, message: string) => {
    for (const i of indexes) fail(i, code, message);
  };

  // 1. Check every frame.
  const checked: Checked[] = [];
  for (let i = 0; i < opts.frames.length; i++) {
    opts.onProgress(i, { kind: "checking" });
    const image = await toDataUrl(opts.frames[i]);
    try {
      const embedded = (await call("POST", "/v1/embed", key, { image })) as EmbedAnswer;
      const detected = (await call("POST", "/v1/detect", key, { image })) as DetectAnswer;
      let largest: BBox | null = null;
      for (const box of detected.bboxes) if (!largest || box[2] * box[3] > largest[2] * largest[3]) largest = box;
      if (largest && iou(largest, embedded.bbox) < 0.9) {
        checked.push({ image, embedding: null, note: null });
        fail(i, "MULTIPLE_FACES", `${detected.faces_count} faces in view and the largest is not the clearest one: not enrolled`);
        continue;
      }
      const others = detected.faces_count - 1;
      const note = others > 0 ? `${others} other face${others === 1 ? "" : "s"} in view, the largest was used` : null;
      checked.push({ image, embedding: embedded.embedding, note });
    } catch (error) {
      checked.push({ image, embedding: null, note: null });
      const code = error instanceof ApiError ? error.code : "NETWORK";
      fail(i, code, error instanceof Error ? error.message : String(error));
      if (fatal(error)) {
        failRest(
          Array.from({ length: opts.frames.length - i - 1 }, (_, k) => i + 1 + k),
          code,
          "skipped",
        );
        return summary;
      }
    }
  }

  // 2. Choose the person.
  const choice = choosePerson(
    checked.map((c) => c.embedding),
    threshold,
  );
  if (choice.kind === "none") return summary;
  const withFace = checked.flatMap((c, i) => (c.embedding ? [i] : []));
  if (choice.kind === "ambiguous") {
    summary.refused = choice.reason;
    for (const i of withFace) fail(i, "AMBIGUOUS", `unclear who is enrolling (${(choice.similarity[i] ?? 0).toFixed(2)}): not enrolled`);
    return summary;
  }
  const members = new Set(choice.members);
  for (const i of withFace) {
    if (members.has(i)) continue;
    summary.differentPerson++;
    opts.onProgress(i, { kind: "skipped", similarity: choice.similarity[i] ?? 0 });
  }

  // 3. Enroll: the defining frame first, then the others in capture order.
  const order = [choice.anchor, ...choice.members.filter((i) => i !== choice.anchor)];
  let userExists = false;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const { image, embedding, note } = checked[i];
    const id = faceId(stamp, i);
    try {
      let stored: EnrolledAnswer;
      let createdNow = false;
      if (userExists) {
        stored = (await call("POST", `${base}/users/${enc(userId)}/faces`, key, { face_id: id, image, return_embedding: true })) as EnrolledAnswer;
      } else {
        try {
          stored = (await call("POST", `${base}/users`, key, { user_id: userId, face_id: id, image, return_embedding: true })) as EnrolledAnswer;
          createdNow = true;
        } catch (error) {
          if (error instanceof ApiError && error.code === "COMPANY_NOT_FOUND" && opts.createCompany) {
            await call("POST", "/v1/companies", key, { company_id: company });
            stored = (await call("POST", `${base}/users`, key, { user_id: userId, face_id: id, image, return_embedding: true })) as EnrolledAnswer;
            createdNow = true;
          } else if (error instanceof ApiError && error.code === "USER_EXISTS" && opts.addToExisting) {
            // Adding to an existing user: the person in front of the camera must be that user.
            const seen = (await call("POST", `${base}/recognize`, key, { image })) as RecognizeAnswer;
            if (seen.user_id !== userId) {
              const who = seen.user_id ? `recognized as ${seen.user_id}` : "not recognized";
              summary.refused = `the person in these frames is not ${userId} (${who}, ${seen.confidence.toFixed(2)})`;
              failRest(order.slice(k), "NOT_THIS_USER", `not ${userId}: not enrolled`);
              return summary;
            }
            stored = (await call("POST", `${base}/users/${enc(userId)}/faces`, key, { face_id: id, image, return_embedding: true })) as EnrolledAnswer;
          } else {
            throw error;
          }
        }
        userExists = true;
      }
      // The server picks the face on its own; if it stored another one than the checked one, undo.
      if (embedding && cosine(stored.embedding, embedding) < 0.9) {
        await call("DELETE", createdNow ? `${base}/users/${enc(userId)}` : `${base}/users/${enc(userId)}/faces/${enc(id)}`, key);
        if (createdNow) userExists = false;
        fail(i, "FACE_MISMATCH", "the server stored another face than the one checked: removed");
        continue;
      }
      if (createdNow) summary.created = true;
      summary.enrolled++;
      opts.onProgress(i, { kind: "enrolled", faceId: id, similarity: members.size > 1 ? (choice.similarity[i] ?? null) : null, note });
    } catch (error) {
      const code = error instanceof ApiError ? error.code : "NETWORK";
      fail(i, code, error instanceof Error ? error.message : String(error));
      if (fatal(error) || code === "USER_EXISTS" || code === "COMPANY_NOT_FOUND") {
        failRest(order.slice(k + 1), code, "skipped");
        break;
      }
    }
  }
  return summary;
}
