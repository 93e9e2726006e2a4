/**
 * A person's display name and metadata: optional, never required, never an id. The name is what a
 * kiosk greets ("Welcome, Ada") and events, webhooks and the console show; metadata keeps what an old
 * system stored beside its users (department, employee number, ...), small and flat. Runtime-free.
 */
import { z } from "zod";

/** A display name: 1..200 characters once trimmed, no control characters, NFC. */
export const UserNameSchema = z
  .string()
  .trim()
  .min(1, "must not be blank")
  .max(200, "at most 200 characters")
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters")
  .overwrite((s) => s.normalize("NFC"));

const MetaValue = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]);
const MAX_METADATA_BYTES = 4096;

/** Flat metadata: at most 32 keys of 1..64 characters, scalar values, 4 KiB as JSON. */
export const UserMetadataSchema = z
  .record(z.string().min(1).max(64), MetaValue)
  .refine((m) => Object.keys(m).length <= 32, "at most 32 keys")
  .refine((m) => new TextEncoder().encode(JSON.stringify(m)).byteLength <= MAX_METADATA_BYTES, `at most ${MAX_METADATA_BYTES} bytes as JSON`);
export type UserMetadata = z.infer<typeof UserMetadataSchema>;

export const UserProfileSchema = z.object({ name: UserNameSchema.optional(), metadata: UserMetadataSchema.optional() });
/** What is known of a person beside their faces (both absent: nothing). */
export type UserProfile = z.infer<typeof UserProfileSchema>;

/** The profile without empty parts (undefined when nothing is left): what stores keep and events carry. */
export function compactProfile(p: UserProfile | null | undefined): UserProfile | undefined {
  if (!p) return undefined;
  const out: UserProfile = {};
  if (p.name !== undefined) out.name = p.name;
  if (p.metadata !== undefined && Object.keys(p.metadata).length > 0) out.metadata = p.metadata;
  return out.name === undefined && out.metadata === undefined ? undefined : out;
}

/** Same content (metadata compared as JSON). */
export function sameProfile(a: UserProfile | undefined, b: UserProfile | undefined): boolean {
  return JSON.stringify(compactProfile(a) ?? null) === JSON.stringify(compactProfile(b) ?? null);
}

/**
 * An old system's user entry → profile: `name` (or display_name, full_name, first_name + last_name)
 * is the name; every other scalar field besides the ones the format defines is metadata.
 */
export function profileFromFields(entry: Record<string, unknown>, defined: ReadonlySet<string>): UserProfile | undefined {
  const text = (k: string) => (typeof entry[k] === "string" && (entry[k] as string).trim() !== "" ? (entry[k] as string) : undefined);
  const joined = [text("first_name"), text("last_name")].filter(Boolean).join(" ");
  const rawName = text("name") ?? text("display_name") ?? text("full_name") ?? (joined || undefined);
  const name = rawName === undefined ? undefined : UserNameSchema.safeParse(rawName.slice(0, 200));
  const metadata: UserMetadata = {};
  for (const [k, v] of Object.entries(entry)) {
    if (defined.has(k) || k === "name" || k.length === 0 || k.length > 64 || Object.keys(metadata).length >= 32) continue;
    const parsed = MetaValue.safeParse(v);
    if (parsed.success) metadata[k] = parsed.data;
  }
  const meta = UserMetadataSchema.safeParse(metadata);
  return compactProfile({ name: name?.success ? name.data : undefined, metadata: meta.success ? meta.data : undefined });
}
