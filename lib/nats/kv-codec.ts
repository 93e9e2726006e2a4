/**
 * The KV bucket's value format and the entry → event mapping (one job: bytes ⇄ records).
 *
 * | key | value |
 * |---|---|
 * | `c.<company>` | `{"companyId"}` |
 * | `u.<company>.<user>` | `{"companyId","userId","profile"?}` (the profile at creation) |
 * | `p.<company>.<user>` | `{"profile"?}`: the profile since its last change (`{}`: cleared) |
 * | `f.<company>.<user>.<face>` | `{"companyId","userId","faceId","model","dim","embedding"}`, embedding = base64 of little-endian float32 |
 *
 * Values are zod-checked on read; an invalid one is skipped with a warning.
 */
import { Buffer } from "node:buffer";
import type { KvEntry } from "@nats-io/kv";
import { z } from "zod";
import { userPut, UserProfileSchema, type FaceRecord, type StoreEvent } from "../core/internal.ts";
import { parseKey } from "./keys.ts";

export type Warn = (message: string, cause?: unknown) => void;

export const CompanyValueSchema = z.object({ companyId: z.string() });
export const UserValueSchema = z.object({ companyId: z.string(), userId: z.string(), profile: UserProfileSchema.optional() });
export const ProfileValueSchema = z.object({ profile: UserProfileSchema.optional() });
export const FaceValueSchema = z.object({
  companyId: z.string(),
  userId: z.string(),
  faceId: z.string(),
  model: z.string().min(1),
  dim: z.number().int().positive(),
  /** Little-endian float32, base64. */
  embedding: z.string(),
});

const enc = new TextEncoder();
export const json = (value: unknown) => enc.encode(JSON.stringify(value));

export function encodeEmbedding(embedding: Float32Array): string {
  return Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength).toString("base64");
}

export function decodeEmbedding(b64: string, dim: number): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  if (bytes.byteLength !== dim * 4) throw new Error(`embedding has ${bytes.byteLength} bytes, expected ${dim * 4}`);
  const out = new Float32Array(dim);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}


/** The value of a face key. */
export function faceValue(f: Pick<FaceRecord, "companyId" | "userId" | "faceId" | "model" | "embedding">): Uint8Array {
  return json({ companyId: f.companyId, userId: f.userId, faceId: f.faceId, model: f.model, dim: f.embedding.length, embedding: encodeEmbedding(f.embedding) });
}

/** The companies and users a listener has seen alive (to turn orphans into deletes). */
export type Tree = { companies: Set<string>; users: Set<string> };
const SettingsValueSchema = z.object({ fpirTarget: z.number().optional(), threshold: z.number().optional() });

export const newTree = (): Tree => ({ companies: new Set(), users: new Set() });
const userTreeKey = (c: string, u: string) => `${c}\u0000${u}`;

/**
 * Turns a KV entry into a store event, keeping the listener's view a consistent tree: a put whose
 * parent is absent, or an invalid value, becomes a delete of that key (warned).
 */
export function entryToEvent(entry: KvEntry, tree: Tree, warn: Warn): StoreEvent | null {
  const parsed = parseKey(entry.key);
  if (!parsed) {
    warn(`ignoring foreign key ${entry.key} at revision ${entry.revision}`);
    return null;
  }
  const revision = entry.revision;
  const deleted = entry.operation !== "PUT";
  switch (parsed.kind) {
    case "meta":
      // store metadata (the initialised marker): no gallery change, but the revision is passed
      return { revision, type: "sync" };
    case "company": {
      const { companyId } = parsed;
      if (deleted) {
        tree.companies.delete(companyId);
        return { revision, type: "company.delete", companyId };
      }
      tree.companies.add(companyId);
      return { revision, type: "company.put", companyId };
    }
    case "settings": {
      const { companyId } = parsed;
      // settings of a company this view does not hold (deleted, or not yet replayed): nothing to apply
      if (!tree.companies.has(companyId)) return { revision, type: "sync" };
      if (deleted) return { revision, type: "company.put", companyId, settings: null };
      const value = SettingsValueSchema.safeParse(safeJson(entry));
      if (!value.success) {
        warn(`invalid settings value at ${entry.key} revision ${revision}: ${value.error.message}`);
        return { revision, type: "sync" };
      }
      return { revision, type: "company.put", companyId, settings: value.data };
    }
    case "user": {
      const { companyId, userId } = parsed;
      const k = userTreeKey(companyId, userId);
      if (deleted || !tree.companies.has(companyId)) {
        tree.users.delete(k);
        return { revision, type: "user.delete", companyId, userId };
      }
      tree.users.add(k);
      // an unreadable profile is no profile: the user and their faces still load
      const value = UserValueSchema.safeParse(safeJson(entry));
      if (!value.success) warn(`invalid user value at ${entry.key} revision ${revision}: ${value.error.message}`);
      return userPut(revision, companyId, userId, value.success ? value.data.profile : undefined);
    }
    case "profile": {
      const { companyId, userId } = parsed;
      // a profile of a user this view does not hold, or removed with its user (whose delete follows)
      if (deleted || !tree.users.has(userTreeKey(companyId, userId))) return { revision, type: "sync" };
      const value = ProfileValueSchema.safeParse(safeJson(entry));
      if (!value.success) {
        warn(`invalid profile value at ${entry.key} revision ${revision}: ${value.error.message}`);
        return { revision, type: "sync" };
      }
      return userPut(revision, companyId, userId, value.data.profile);
    }
    case "face": {
      const { companyId, userId, faceId } = parsed;
      const asDelete = { revision, type: "face.delete", companyId, userId, faceId } as const;
      if (deleted || !tree.users.has(userTreeKey(companyId, userId))) return asDelete;
      const value = FaceValueSchema.safeParse(safeJson(entry));
      if (!value.success) {
        warn(`invalid face value at ${entry.key} revision ${revision}: ${value.error.message}`);
        return asDelete;
      }
      try {
        const embedding = decodeEmbedding(value.data.embedding, value.data.dim);
        return { revision, type: "face.put", face: { companyId, userId, faceId, embedding, model: value.data.model } };
      } catch (err) {
        warn(`invalid embedding at ${entry.key} revision ${revision}`, err);
        return asDelete;
      }
    }
  }
}

function safeJson(entry: KvEntry): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}
