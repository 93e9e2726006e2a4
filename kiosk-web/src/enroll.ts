/**
 * Enrollment through the HTTP API: capture a few frames of the person in front of the camera,
 * create the user with the first usable one (`POST /v1/companies/:c/users`), add the others as
 * faces (`POST /v1/companies/:c/users/:u/faces`). Frames without exactly one usable face are
 * skipped with the server's reason.
 */

export interface EnrollOptions {
  company: string;
  key: string;
  userId: string;
  /** JPEG frames, in capture order. */
  frames: Blob[];
  createCompany: boolean;
  /** When the user exists already, add the frames as faces instead of failing. */
  addToExisting: boolean;
  onProgress(index: number, outcome: { ok: true; faceId: string } | { ok: false; code: string; message: string }): void;
}

export interface EnrollSummary {
  enrolled: number;
  failed: number;
  created: boolean;
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
function faceId(index: number): string {
  return `kiosk-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${index + 1}`;
}

export async function enroll(opts: EnrollOptions): Promise<EnrollSummary> {
  const { company, key, userId } = opts;
  const base = `/v1/companies/${enc(company)}`;
  let userExists = false;
  let created = false;
  let enrolled = 0;
  let failed = 0;
  let companyChecked = false;

  for (let i = 0; i < opts.frames.length; i++) {
    const image = await toDataUrl(opts.frames[i]);
    const id = faceId(i);
    try {
      if (!userExists) {
        try {
          await call("POST", `${base}/users`, key, { user_id: userId, face_id: id, image });
          created = true;
        } catch (error) {
          if (error instanceof ApiError && error.code === "COMPANY_NOT_FOUND" && opts.createCompany && !companyChecked) {
            companyChecked = true;
            await call("POST", "/v1/companies", key, { company_id: company });
            await call("POST", `${base}/users`, key, { user_id: userId, face_id: id, image });
            created = true;
          } else if (error instanceof ApiError && error.code === "USER_EXISTS" && opts.addToExisting) {
            await call("POST", `${base}/users/${enc(userId)}/faces`, key, { face_id: id, image });
          } else {
            throw error;
          }
        }
        userExists = true;
      } else {
        await call("POST", `${base}/users/${enc(userId)}/faces`, key, { face_id: id, image });
      }
      enrolled++;
      opts.onProgress(i, { ok: true, faceId: id });
    } catch (error) {
      failed++;
      const code = error instanceof ApiError ? error.code : "NETWORK";
      const message = error instanceof Error ? error.message : String(error);
      opts.onProgress(i, { ok: false, code, message });
      // Auth and scope problems will not get better with the next frame.
      if (error instanceof ApiError && (error.status === 401 || error.status === 403 || code === "USER_EXISTS" || code === "COMPANY_NOT_FOUND")) {
        for (let j = i + 1; j < opts.frames.length; j++) {
          failed++;
          opts.onProgress(j, { ok: false, code, message: "skipped" });
        }
        break;
      }
    }
  }
  return { enrolled, failed, created };
}
