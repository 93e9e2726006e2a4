/**
 * KV key layout (ARCHITECTURE §5): `c.<company>`, `u.<company>.<user>`, `f.<company>.<user>.<face>`,
 * `s.<company>` for a company's operating-point settings and `p.<company>.<user>` for a changed profile.
 * Ids may hold dots, spaces or any unicode, so every id token is base64url of its UTF-8 bytes
 * without padding (alphabet A-Z a-z 0-9 - _, all valid in KV keys, and never a wildcard).
 */
import { Buffer } from "node:buffer";

export function encodeId(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

export function decodeId(token: string): string {
  return Buffer.from(token, "base64url").toString("utf8");
}

export const companyKey = (companyId: string) => `c.${encodeId(companyId)}`;
export const userKey = (companyId: string, userId: string) => `u.${encodeId(companyId)}.${encodeId(userId)}`;
export const faceKey = (companyId: string, userId: string, faceId: string) =>
  `f.${encodeId(companyId)}.${encodeId(userId)}.${encodeId(faceId)}`;

/** A company's operating-point settings (absent: none). Deleted with the company. */
export const settingsKey = (companyId: string) => `s.${encodeId(companyId)}`;

/**
 * A user's profile (name, metadata) once changed after its creation (the creation's is in the user's
 * value). A separate key, like settings: re-putting the user key would replay it after its faces.
 * Never deleted but with its user (a cleared profile is `{}`).
 */
export const profileKey = (companyId: string, userId: string) => `p.${encodeId(companyId)}.${encodeId(userId)}`;

/** Store metadata (`m.<name>`, e.g. the initialised marker): not gallery records. */
export const metaKey = (name: string) => `m.${name}`;

/** Filters for the children of a company or user (for cascades). */
export const usersOfCompany = (companyId: string) => `u.${encodeId(companyId)}.>`;
export const facesOfCompany = (companyId: string) => `f.${encodeId(companyId)}.>`;
export const facesOfUser = (companyId: string, userId: string) => `f.${encodeId(companyId)}.${encodeId(userId)}.>`;
export const profilesOfCompany = (companyId: string) => `p.${encodeId(companyId)}.>`;

export type ParsedKey =
  | { kind: "meta"; name: string }
  | { kind: "company"; companyId: string }
  | { kind: "settings"; companyId: string }
  | { kind: "user"; companyId: string; userId: string }
  | { kind: "profile"; companyId: string; userId: string }
  | { kind: "face"; companyId: string; userId: string; faceId: string };

/** Parses a key of this layout; null for anything else (foreign keys in a shared bucket are ignored). */
export function parseKey(key: string): ParsedKey | null {
  const parts = key.split(".");
  const valid = parts.slice(1).every((p) => /^[A-Za-z0-9_-]+$/.test(p));
  if (!valid) return null;
  if (parts[0] === "m" && parts.length === 2) return { kind: "meta", name: parts[1]! };
  if (parts[0] === "c" && parts.length === 2) return { kind: "company", companyId: decodeId(parts[1]!) };
  if (parts[0] === "s" && parts.length === 2) return { kind: "settings", companyId: decodeId(parts[1]!) };
  if (parts[0] === "u" && parts.length === 3) {
    return { kind: "user", companyId: decodeId(parts[1]!), userId: decodeId(parts[2]!) };
  }
  if (parts[0] === "p" && parts.length === 3) {
    return { kind: "profile", companyId: decodeId(parts[1]!), userId: decodeId(parts[2]!) };
  }
  if (parts[0] === "f" && parts.length === 4) {
    return { kind: "face", companyId: decodeId(parts[1]!), userId: decodeId(parts[2]!), faceId: decodeId(parts[3]!) };
  }
  return null;
}
