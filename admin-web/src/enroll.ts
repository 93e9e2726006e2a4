/** Sending a chosen photo to the server: a new person (create user) or another face of one. */
import { ApiError, describeError, type Api } from "./api.ts";
import { seg } from "./dom.ts";
import { outcomeCard, type Photo } from "./photo.ts";
import { Enrolled } from "./schemas.ts";

/** A face id from the photo's name ("ann-2.jpg" → "ann-2"), so an operator recognises it later. */
export function faceIdFor(photo: Photo): string {
  const base = photo.name.replace(/\.[a-z0-9]{2,5}$/i, "").replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return (base || "photo").slice(0, 100);
}

/** What the card says about a stored face; a group photo says that the largest face was the one taken. */
export function enrolledDetail(r: { face_id: string; detection_score?: number; faces_found?: number }): string {
  const score = r.detection_score !== undefined ? `, detection score ${r.detection_score.toFixed(2)}` : "";
  const others = r.faces_found !== undefined && r.faces_found > 1 ? ` The photo has ${r.faces_found} faces: the largest, boxed, was enrolled.` : "";
  return `Stored as face “${r.face_id}”${score}.${others}`;
}

function form(photo: Photo, fields: Record<string, string>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  f.append("image", photo.blob, photo.name);
  return f;
}

export interface EnrollResult {
  ok: boolean;
  card: HTMLElement;
  faceId?: string;
}

/** Creates `userId` with the photo (newPerson) or adds it as a face; the card says what happened. */
export async function enrollPhoto(api: Api, company: string, userId: string, photo: Photo, newPerson: boolean): Promise<EnrollResult> {
  const path = newPerson ? `/v1/companies/${seg(company)}/users` : `/v1/companies/${seg(company)}/users/${seg(userId)}/faces`;
  let faceId = faceIdFor(photo);
  for (let attempt = 0; ; attempt++) {
    try {
      const fields: Record<string, string> = { face_id: faceId };
      if (newPerson) fields.user_id = userId;
      const r = await api.call("POST", path, Enrolled, { form: form(photo, fields) });
      const card = outcomeCard(api, photo, {
        ok: true,
        title: newPerson ? `${userId} enrolled` : `Face added to ${userId}`,
        detail: enrolledDetail(r),
        box: r.bbox ?? null,
      });
      return { ok: true, card, faceId: r.face_id };
    } catch (error) {
      // Another photo with the same name: keep both, with a suffix.
      if (error instanceof ApiError && error.code === "FACE_EXISTS" && attempt === 0) {
        faceId = `${faceId.slice(0, 90)}-${Date.now().toString(36)}`;
        continue;
      }
      const code = error instanceof ApiError ? error.code : "ERROR";
      const card = outcomeCard(api, photo, {
        ok: false,
        code,
        title: newPerson ? `${userId}: not enrolled` : `${userId}: face not added`,
        detail: describeError(error),
      });
      return { ok: false, card };
    }
  }
}
