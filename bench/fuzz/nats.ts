/**
 * NATS inputs straight to a real worker (no gateway in between): malformed envelopes, wrong
 * argument shapes, broken `Facegate-Parts` layouts, part references out of range, mutated images
 * as binary parts. Every request must be answered (`no responders` means the worker is gone) with
 * `{result}` or `{error: {code}}` whose code is documented and not INTERNAL.
 */
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { ERROR_CODES, OPERATIONS } from "../../lib/core/mod.ts";
import { mutateImage, nastyString, wrongValue, type BaseImages } from "./mutate.ts";
import type { Rng } from "./rng.ts";
import type { Outcome } from "./http.ts";

export interface NatsInput {
  label: string;
  subject: string;
  payload: Uint8Array;
  parts?: string;
}

const enc = new TextEncoder();

export function natsInput(rng: Rng, base: BaseImages, company: string): NatsInput {
  const op = rng.pick(Object.values(OPERATIONS) as string[]);
  const subject = rng.chance(0.95) ? `facegate.v1.${op}` : "facegate.v1.stats";
  const args: Record<string, unknown> = { companyId: rng.chance(0.8) ? company : nastyString(rng), userId: `u${rng.int(0, 5)}`, faceId: `f${rng.int(0, 5)}` };
  const label = rng.pick(["random", "not-envelope", "wrong-args", "parts-header", "part-ref", "image-part", "opts", "empty"]);
  switch (label) {
    case "random":
      return { label, subject, payload: rng.bytes(rng.int(0, 2000)) };
    case "not-envelope":
      return { label, subject, payload: enc.encode(JSON.stringify(wrongValue(rng))) };
    case "wrong-args": {
      for (const k of ["image", "image1", "image2", "embedding", "threshold", "topK", "queryEmbedding", "referenceEmbeddings", "limit", "cursor"]) if (rng.chance(0.4)) args[k] = wrongValue(rng);
      return { label, subject, payload: enc.encode(JSON.stringify({ args })) };
    }
    case "parts-header": {
      const json = enc.encode(JSON.stringify({ args: { ...args, image: { $part: 0 } } }));
      const img = rng.bytes(rng.int(0, 500));
      const payload = new Uint8Array(json.length + img.length);
      payload.set(json);
      payload.set(img, json.length);
      const parts = rng.pick([`${json.length},${img.length + 1}`, "-1,5", "a,b", `${json.length}`, `${json.length},${img.length},0,0,0`, "", `${payload.length * 2},0`, ",,,"]);
      return { label, subject, payload, parts };
    }
    case "part-ref": {
      const json = enc.encode(JSON.stringify({ args: { ...args, image: { $part: rng.pick([1, 5, 1e9, -1]) } } }));
      return { label, subject, payload: json, parts: `${json.length}` };
    }
    case "image-part": {
      const img = mutateImage(rng, base).bytes;
      const json = enc.encode(JSON.stringify({ args: { ...args, image: { $part: 0 }, image1: { $part: 0 }, image2: { $part: 0 } } }));
      const payload = new Uint8Array(json.length + img.length);
      payload.set(json);
      payload.set(img, json.length);
      return { label, subject: `facegate.v1.${rng.pick(["recognize_face", "detect_faces", "generate_embedding", "verify", "create_user", "add_face"])}`, payload, parts: `${json.length},${img.length}` };
    }
    case "opts":
      return { label, subject, payload: enc.encode(JSON.stringify({ args, opts: { minRevision: rng.pick([-1, 1.5, "x", 0]), timeoutMs: rng.pick([-5, 0, "1", 1e12]), [nastyString(rng).slice(0, 10)]: 1 } })) };
    default:
      return { label, subject, payload: new Uint8Array(0) };
  }
}

export async function sendNats(nc: NatsConnection, input: NatsInput, timeoutMs: number): Promise<Outcome> {
  const h = input.parts !== undefined ? natsHeaders() : undefined;
  if (h && input.parts !== undefined) h.set("Facegate-Parts", input.parts);
  let data: Uint8Array;
  try {
    const reply = await nc.request(input.subject, input.payload, { timeout: timeoutMs, headers: h });
    data = reply.data;
  } catch (error) {
    const text = String(error);
    if (/no responders/i.test(text)) return "crash:no-responders";
    if (/timeout/i.test(text)) return "hang";
    return `undocumented:${text.slice(0, 60)}`;
  }
  let body: { result?: unknown; error?: { code?: unknown } } | unknown[];
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return "undocumented:non-json-reply";
  }
  if (Array.isArray(body) || typeof body !== "object" || body === null) return "undocumented:reply-shape";
  // stats answers with the statistics themselves
  if (input.subject.endsWith(".stats")) return "ok";
  if ("result" in body) return "ok";
  const code = body.error?.code;
  if (typeof code !== "string" || !(ERROR_CODES as readonly string[]).includes(code)) return "undocumented:reply-code";
  if (code === "INTERNAL") return "internal";
  return `error:${code}`;
}
