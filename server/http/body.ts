/**
 * Request bodies in the three encodings (JSON with base64 images, multipart with file parts, a raw
 * `image/*` body with the other fields as query parameters), read with a byte limit that holds
 * whether or not the client sent Content-Length.
 */
import { z } from "zod";
import { FaceError } from "../../lib/core/mod.ts";
import { WireImageSchema } from "./wire.ts";

export type BodyKind = "json" | "multipart" | "raw";

export interface BodySpec {
  /** Encodings the route accepts. */
  kinds: readonly BodyKind[];
  /** Field that a raw image body fills (multipart image parts keep their own names). */
  rawImageField?: string;
  /** Form fields and query parameters arrive as text: these are converted before validation. */
  formTypes?: Readonly<Record<string, "boolean" | "number" | "json">>;
}

export interface ParsedBody {
  kind: BodyKind;
  value: Record<string, unknown>;
}

/** Reads at most `maxBytes`; 413 PAYLOAD_TOO_LARGE beyond (from Content-Length, or counted while streaming). */
export async function readLimited(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    throw tooLarge(Number(declared), maxBytes);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        void reader.cancel().catch(() => {});
        throw tooLarge(total, maxBytes, true);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof FaceError) throw error;
    throw new FaceError("INVALID_ARGUMENT", "the request body could not be read (connection closed?)", { cause: error });
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Names the setting and its value, so whoever reads the message knows what to raise (or what to shrink). */
function tooLarge(size: number, max: number, streamed = false): FaceError {
  const limit = `MAX_BODY_BYTES=${max} (${mebibytes(max)})`;
  return new FaceError(
    "PAYLOAD_TOO_LARGE",
    streamed ? `request body exceeds the server's limit ${limit}` : `request body is ${size} bytes; the server's limit is ${limit}`,
    { details: { setting: "MAX_BODY_BYTES", limit: max, ...(streamed ? {} : { size }) } },
  );
}

function mebibytes(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}

function mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

export function bodyKindOf(type: string): BodyKind | undefined {
  if (type === "" || type === "application/json" || type.endsWith("+json") || type === "text/json") return "json";
  if (type === "multipart/form-data") return "multipart";
  if (type.startsWith("image/") || type === "application/octet-stream") return "raw";
  return undefined;
}

/** Reads and decodes the body by Content-Type; query parameters join raw bodies as fields. */
export async function parseBody(req: Request, spec: BodySpec, maxBytes: number, query: Record<string, string>): Promise<ParsedBody> {
  const type = mediaType(req);
  const kind = bodyKindOf(type);
  if (kind === undefined || !spec.kinds.includes(kind)) {
    const allowed = spec.kinds
      .map((k) => (k === "json" ? "application/json" : k === "multipart" ? "multipart/form-data" : "image/* (raw bytes)"))
      .join(", ");
    throw new FaceError("INVALID_ARGUMENT", `unsupported Content-Type ${JSON.stringify(type || "none")}; this route takes ${allowed}`);
  }
  const bytes = await readLimited(req, maxBytes);

  if (kind === "json") {
    if (bytes.length === 0) throw new FaceError("INVALID_ARGUMENT", "request body is empty; expected a JSON object");
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (cause) {
      throw new FaceError("INVALID_ARGUMENT", `malformed JSON: ${(cause as Error).message}`, { cause });
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new FaceError("INVALID_ARGUMENT", "request body must be a JSON object");
    }
    return { kind, value: json as Record<string, unknown> };
  }

  if (kind === "raw") {
    if (!spec.rawImageField) throw new FaceError("INVALID_ARGUMENT", "this route does not take a raw image body");
    return { kind, value: { ...coerce(query, spec), [spec.rawImageField]: bytes } };
  }

  // multipart: parsed by the runtime's Fetch implementation from the bytes already limited above.
  if (bytes.length === 0) throw new FaceError("INVALID_ARGUMENT", "request body is empty; expected multipart form data");
  let form: FormData;
  try {
    form = await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": req.headers.get("content-type") ?? "" } }).formData();
  } catch (cause) {
    throw new FaceError("INVALID_ARGUMENT", "malformed multipart/form-data body", { cause });
  }
  const fields: Record<string, string> = {};
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of form.entries()) {
    const entry: unknown = value; // File or string (typings differ between runtimes)
    if (entry instanceof Blob) files[name] = new Uint8Array(await entry.arrayBuffer());
    else fields[name] = String(entry);
  }
  checkFileParts(Object.keys(files), (spec as { schema?: unknown }).schema);
  return { kind, value: { ...coerce({ ...query, ...fields }, spec), ...files } };
}

/**
 * A file part under a name the route does not know (`photo` for `image`) would otherwise read as
 * "image is required": say which name was sent and which one the route takes.
 */
function checkFileParts(names: string[], schema: unknown): void {
  if (!(schema instanceof z.ZodObject)) return;
  const shape = schema.shape as Record<string, unknown>;
  const imageFields = Object.keys(shape).filter((k) => shape[k] === WireImageSchema);
  for (const name of names) {
    if (name in shape) continue;
    const expected = imageFields.length > 0 ? `send the image as ${imageFields.map((f) => `'${f}'`).join(" and ")}` : "this route takes no file";
    throw new FaceError("INVALID_ARGUMENT", `multipart field '${name.slice(0, 64)}' is not known; ${expected}`, {
      details: { field: name.slice(0, 64), expected: imageFields },
    });
  }
}

/** Text fields → booleans and numbers where the route says so; anything unparseable is left for zod to reject. */
function coerce(fields: Record<string, string>, spec: BodySpec): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields };
  for (const [name, type] of Object.entries(spec.formTypes ?? {})) {
    const text = fields[name];
    if (text === undefined) continue;
    if (type === "boolean") {
      const t = text.trim().toLowerCase();
      if (t === "true" || t === "1" || t === "yes" || t === "") out[name] = true;
      else if (t === "false" || t === "0" || t === "no") out[name] = false;
    } else if (type === "json") {
      try {
        out[name] = JSON.parse(text);
      } catch {
        // left as text: the schema refuses it with its own message
      }
    } else if (text.trim() !== "" && Number.isFinite(Number(text))) {
      out[name] = Number(text);
    }
  }
  return out;
}
