/**
 * Enrolls a folder of `<user>/<images>` into a company through any FaceApi (in-process service or
 * HttpFaceClient). The first image that has a face creates the user; the others are added as faces
 * (face id = file name without extension). Re-running is safe: existing users get the missing
 * faces, existing faces are skipped.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { FaceError, type FaceApi } from "../../lib/core/mod.ts";
import { isImageFile } from "./calibrate.ts";

export interface EnrollSummary {
  users: number;
  usersCreated: number;
  facesAdded: number;
  skipped: number;
  failed: Array<{ user: string; file: string; code: string; message: string }>;
  ignored: string[];
}

export interface EnrollProgress {
  done: number;
  total: number;
  user: string;
  file: string;
}

export function listEnrollFolder(folder: string): { users: Map<string, string[]>; ignored: string[] } {
  const users = new Map<string, string[]>();
  const ignored: string[] = [];
  for (const name of readdirSync(folder).sort()) {
    const path = join(folder, name);
    if (!statSync(path).isDirectory()) {
      ignored.push(name);
      continue;
    }
    const images = readdirSync(path).filter(isImageFile).sort();
    if (images.length > 0) users.set(name, images.map((f) => join(path, f)));
  }
  return { users, ignored };
}

export async function enrollFolder(
  api: FaceApi,
  companyId: string,
  folder: string,
  onProgress: (p: EnrollProgress) => void = () => {},
): Promise<EnrollSummary> {
  const { users, ignored } = listEnrollFolder(folder);
  const total = [...users.values()].reduce((n, list) => n + list.length, 0);
  const summary: EnrollSummary = { users: users.size, usersCreated: 0, facesAdded: 0, skipped: 0, failed: [], ignored };
  await api.createCompany({ companyId });
  let done = 0;
  for (const [userId, files] of users) {
    let exists = (await api.getUserFaces({ companyId, userId })).faceIds.length > 0;
    for (const file of files) {
      const faceId = basename(file, extname(file));
      const image = new Uint8Array(readFileSync(file));
      try {
        if (!exists) {
          try {
            await api.createUser({ companyId, userId, faceId, image });
            summary.usersCreated++;
            summary.facesAdded++;
          } catch (error) {
            if (!FaceError.is(error, "USER_EXISTS")) throw error;
            // a user with no faces (or created meanwhile): add this face instead
            await api.addFace({ companyId, userId, faceId, image });
            summary.facesAdded++;
          }
          exists = true;
        } else {
          await api.addFace({ companyId, userId, faceId, image });
          summary.facesAdded++;
        }
      } catch (error) {
        const e = FaceError.from(error);
        if (e.code === "FACE_EXISTS") summary.skipped++;
        else if (e.code === "TIMEOUT" || e.code === "UNAVAILABLE" || e.code === "UNAUTHORIZED" || e.code === "FORBIDDEN") throw e;
        else summary.failed.push({ user: userId, file, code: e.code, message: e.message });
      }
      onProgress({ done: ++done, total, user: userId, file: basename(file) });
    }
  }
  return summary;
}

/** A one-line progress bar on stderr (redrawn on a TTY, a line per 10 % otherwise). */
export function progressBar(
  label = "enroll",
  stream: { write(s: string): unknown; isTTY?: boolean } = process.stderr,
): (p: EnrollProgress) => void {
  let lastDecile = -1;
  return ({ done, total, user, file }) => {
    const frac = total === 0 ? 1 : done / total;
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(frac * width);
      const label = `${user}/${file}`.slice(0, 40);
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${label.padEnd(40)}`);
      if (done === total) stream.write("\n");
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        stream.write(`${label}: ${done}/${total} (${Math.round(frac * 100)} %)\n`);
      }
    }
  };
}
