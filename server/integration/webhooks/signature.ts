/**
 * Webhook signatures, two of them on every request:
 * - `Facegate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (since the
 *   start; the key is the secret's UTF-8 bytes). `verifySignature` is what a TypeScript receiver runs.
 * - Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` (the event id, the same on
 *   every retry), `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64
 *   HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, so receivers can use the off-the-shelf verifiers
 *   (`standardwebhooks` on npm, PyPI, ...). The key follows their convention: a `whsec_<base64>`
 *   secret (what facegate generates) is the decoded bytes; any other secret is its UTF-8 bytes
 *   (the verifiers' "raw" format).
 * The timestamp is signed with the body, so a receiver can refuse old replays (5 minutes is the
 * usual tolerance).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "Facegate-Signature";
const STANDARD_PREFIX = "whsec_";

export function sign(secret: string, body: string, timestampSeconds: number = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex");
  return `t=${timestampSeconds},v1=${mac}`;
}

/** True when `header` signs `body` with `secret` and its timestamp is within `toleranceSeconds` of now. */
export function verifySignature(secret: string, body: string, header: string | null, toleranceSeconds = 300, nowSeconds = Date.now() / 1000): boolean {
  if (!header) return false;
  const parts = new Map(header.split(",").map((kv) => kv.split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

/** The Standard Webhooks HMAC key of a secret: `whsec_<base64>` → the bytes; otherwise its UTF-8 bytes. */
export function standardKey(secret: string): Buffer {
  // Node's base64 decoder also takes the URL-safe alphabet of secrets generated before 0.1.
  return secret.startsWith(STANDARD_PREFIX) ? Buffer.from(secret.slice(STANDARD_PREFIX.length), "base64") : Buffer.from(secret, "utf8");
}

/** True when a `whsec_` secret's key part is base64 (standard or URL-safe) of at least 16 bytes. */
export function isStandardSecret(secret: string): boolean {
  const key = secret.slice(STANDARD_PREFIX.length);
  return secret.startsWith(STANDARD_PREFIX) && /^[A-Za-z0-9+/_-]+={0,2}$/.test(key) && standardKey(secret).length >= 16;
}

/** The three Standard Webhooks headers of one request. */
export function standardHeaders(secret: string, id: string, body: string, timestampSeconds: number = Math.floor(Date.now() / 1000)): Record<string, string> {
  const mac = createHmac("sha256", standardKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestampSeconds), "webhook-signature": `v1,${mac}` };
}
