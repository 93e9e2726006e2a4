/**
 * HTTP inputs: malformed bodies and headers for every route of the server's own OpenAPI document
 * (so routes added later are fuzzed too), multipart bodies, raw image bodies, and broken HTTP on
 * the socket. Each answer is classified: a 2xx, a documented error (`{"error": {code, message}}`
 * whose code maps to the status), or a failure (INTERNAL, undocumented shape/status, no answer).
 */
import { ERROR_CODES, HTTP_STATUS, type ErrorCode } from "../../lib/core/mod.ts";
import { brokenJson, mutateImage, nastyString, pct, wrongValue, type BaseImages } from "./mutate.ts";
import type { Rng } from "./rng.ts";

export interface Operation {
  method: string;
  path: string;
  /** Field names and JSON types of the JSON body (empty: no JSON body). */
  fields: Record<string, string>;
  kinds: string[];
}

export interface HttpInput {
  category: "http-body" | "http-headers" | "multipart" | "image";
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string;
}

/** Outcome of one input: "ok" (2xx), "error:<CODE>" (documented), or a failure kind. */
export type Outcome = string;
export const FAILURES = ["internal", "undocumented", "hang", "crash", "protocol"] as const;
export const isFailure = (o: Outcome): boolean => (FAILURES as readonly string[]).some((f) => o === f || o.startsWith(`${f}:`));

/** The routes of /openapi.json with their body fields. */
export function operationsFrom(openapi: { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, { type?: string }> } }> } }>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(openapi.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const content = op.requestBody?.content ?? {};
      const props = content["application/json"]?.schema?.properties ?? content["multipart/form-data"]?.schema?.properties ?? {};
      const fields = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.type ?? "any"]));
      ops.push({ method: method.toUpperCase(), path: path.replace(/\{([^}]+)\}/g, ":$1"), fields, kinds: Object.keys(content) });
    }
  }
  return ops;
}

export interface HttpContext {
  base: BaseImages;
  keys: { company: string; kiosk: string; admin: string };
  /** The company the fuzz keys may write; another one they may not touch. */
  company: string;
  protectedCompany: string;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

function fillPath(rng: Rng, path: string, ctx: HttpContext): string {
  return path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
    const roll = rng.next();
    if (name === "company") {
      if (roll < 0.6) return ctx.company;
      if (roll < 0.7) return ctx.protectedCompany;
    } else if (roll < 0.6) return `${name}-${rng.int(0, 5)}`;
    return pct(nastyString(rng)).slice(0, 3000) || "x";
  });
}

function pickKey(rng: Rng, ctx: HttpContext): Record<string, string> {
  const roll = rng.next();
  if (roll < 0.7) return { "X-API-Key": ctx.keys.company };
  if (roll < 0.8) return { "X-API-Key": ctx.keys.kiosk };
  if (roll < 0.9) return {};
  return { "X-API-Key": rng.pick(["wrong-key-0000", "x", "A".repeat(600), "admin-key\u00ff"]) };
}

/** A plausible value for a field, often wrong. */
function fieldValue(rng: Rng, name: string, type: string, ctx: HttpContext): unknown {
  if (rng.chance(0.35)) return wrongValue(rng);
  if (/image/.test(name)) return rng.chance(0.3) ? `data:image/jpeg;base64,${b64(mutateImage(rng, ctx.base).bytes)}` : b64(mutateImage(rng, ctx.base).bytes);
  if (/embedding/.test(name)) return Array.from({ length: rng.pick([512, 511, 0, 1024, 3]) }, () => rng.next() * 2 - 1);
  if (name === "company_id") return rng.chance(0.8) ? ctx.company : nastyString(rng);
  if (type === "number" || type === "integer") return rng.pick([0.3, 0.5, -1, 2, 1e9, 0, 100]);
  if (type === "boolean") return rng.chance(0.5);
  if (type === "array") return [];
  if (type === "object") return {};
  return rng.chance(0.7) ? `${name}-${rng.int(0, 5)}` : nastyString(rng);
}

export function httpBodyInput(rng: Rng, ops: Operation[], ctx: HttpContext): HttpInput {
  const op = rng.pick(ops);
  const path = fillPath(rng, op.path, ctx);
  const headers: Record<string, string> = { ...pickKey(rng, ctx), "Content-Type": "application/json" };
  const obj: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(op.fields)) if (rng.chance(0.85)) obj[name] = fieldValue(rng, name, type, ctx);
  if (rng.chance(0.2)) obj[nastyString(rng).slice(0, 30) || "extra"] = wrongValue(rng);
  let body = JSON.stringify(obj);
  let label = "json";
  if (rng.chance(0.3)) {
    body = brokenJson(rng, body);
    label = "broken-json";
  } else if (rng.chance(0.1)) {
    body = JSON.stringify(wrongValue(rng));
    label = "non-object";
  }
  return { category: "http-body", label, method: rng.chance(0.9) ? op.method : rng.pick(["GET", "POST", "DELETE", "PUT", "PATCH"]), path, headers, body };
}

export function httpHeaderInput(rng: Rng, ops: Operation[], ctx: HttpContext): HttpInput {
  const op = rng.pick(ops);
  const headers: Record<string, string> = { ...pickKey(rng, ctx) };
  const set = (k: string, v: string) => (headers[k] = v);
  const label = rng.pick(["content-type", "min-revision", "request-id", "origin", "encoding", "accept", "many", "key"]);
  switch (label) {
    case "content-type":
      set("Content-Type", rng.pick(["application/json; charset=utf-16", "multipart/form-data", "multipart/form-data; boundary=", "image/svg+xml", "image/", "text/plain", "application/x-www-form-urlencoded", "application/json, text/plain", ";;;", "application/octet-stream", "APPLICATION/JSON"]));
      break;
    case "min-revision":
      set("X-Min-Revision", rng.pick(["-1", "1e3", "999999999999999", "abc", "", "0x10", "1.5"]));
      break;
    case "request-id":
      set("X-Request-Id", rng.pick(["", "a".repeat(500), "<script>", "id with spaces", "ok-id-1"]));
      break;
    case "origin":
      set("Origin", rng.pick(["null", "http://evil.example", "file://", "http://127.0.0.1:1"]));
      break;
    case "encoding":
      set("Content-Encoding", rng.pick(["gzip", "br", "deflate, gzip", "identity"]));
      break;
    case "accept":
      set("Accept", rng.pick(["image/png", "*/*;q=0", "text/event-stream"]));
      break;
    case "many":
      for (let i = 0; i < rng.int(10, 80); i++) set(`X-Fuzz-${i}`, "v".repeat(rng.int(1, 200)));
      break;
    default:
      set("X-API-Key", rng.pick(["", " ", "key\ttab", "k".repeat(4000)]));
  }
  const body = op.kinds.length > 0 ? JSON.stringify(Object.fromEntries(Object.entries(op.fields).map(([n, t]) => [n, fieldValue(rng, n, t, ctx)]))) : undefined;
  if (body !== undefined && headers["Content-Type"] === undefined) headers["Content-Type"] = "application/json";
  return { category: "http-headers", label, method: op.method, path: fillPath(rng, op.path, ctx), headers, body };
}

const crlf = "\r\n";
export function multipartInput(rng: Rng, ops: Operation[], ctx: HttpContext): HttpInput {
  const withForm = ops.filter((o) => o.kinds.includes("multipart/form-data"));
  const op = rng.pick(withForm.length > 0 ? withForm : ops);
  const boundary = rng.pick(["fuzzb", "----x", "a".repeat(80), "b b", ""]);
  const parts: string[] = [];
  const bin: Uint8Array[] = [];
  const enc = new TextEncoder();
  const label = rng.pick(["fields", "file", "no-final", "mismatch", "many-parts", "headers", "repeated"]);
  const addText = (name: string, value: string) => parts.push(`--${boundary}${crlf}Content-Disposition: form-data; name="${name}"${crlf}${crlf}${value}${crlf}`);
  for (const [name, type] of Object.entries(op.fields)) {
    if (/image/.test(name)) continue;
    if (rng.chance(0.8)) addText(name, String(fieldValue(rng, name, type, ctx)).slice(0, 2000));
  }
  if (label === "many-parts") for (let i = 0; i < rng.int(200, 2000); i++) addText(`f${i}`, "x");
  if (label === "headers") parts.push(`--${boundary}${crlf}Content-Disposition: form-data; name="${"n".repeat(rng.int(1, 9000))}"; filename="${nastyString(rng).slice(0, 200)}"${crlf}Content-Type: ${nastyString(rng).slice(0, 50)}${crlf}${crlf}x${crlf}`);
  if (label === "repeated") for (let i = 0; i < 5; i++) addText("user_id", `u${i}`);
  let head = enc.encode(parts.join(""));
  const image = mutateImage(rng, ctx.base).bytes;
  const imageName = rng.pick(["image", "image1", "image2", "file", ""]);
  const fileHead = enc.encode(`--${boundary}${crlf}Content-Disposition: form-data; name="${imageName}"; filename="x.jpg"${crlf}Content-Type: image/jpeg${crlf}${crlf}`);
  bin.push(head, fileHead, image, enc.encode(crlf));
  if (label !== "no-final") bin.push(enc.encode(`--${label === "mismatch" ? "other" : boundary}--${crlf}`));
  const total = bin.reduce((n, b) => n + b.length, 0);
  const body = new Uint8Array(total);
  let o = 0;
  for (const b of bin) {
    body.set(b, o);
    o += b.length;
  }
  head = new Uint8Array(0);
  const headers = { ...pickKey(rng, ctx), "Content-Type": rng.chance(0.9) ? `multipart/form-data; boundary=${boundary}` : "multipart/form-data" };
  return { category: "multipart", label, method: op.method, path: fillPath(rng, op.path, ctx), headers, body };
}

export function imageInput(rng: Rng, ctx: HttpContext): HttpInput {
  const { kind, bytes } = mutateImage(rng, ctx.base);
  const path = rng.pick([
    `/v1/companies/${ctx.company}/recognize`,
    `/v1/companies/${ctx.company}/recognize?all_faces=true`,
    "/v1/detect",
    "/v1/embed",
    `/v1/companies/${ctx.company}/users?user_id=fz-${rng.int(0, 50)}&face_id=f${rng.int(0, 9)}`,
    `/v1/companies/${ctx.company}/users/fz-${rng.int(0, 50)}/faces?face_id=g${rng.int(0, 99)}`,
  ]);
  const type = rng.pick(["image/jpeg", "image/png", "image/webp", "application/octet-stream", "image/gif", "image/svg+xml"]);
  return { category: "image", label: kind, method: "POST", path, headers: { "X-API-Key": ctx.keys.company, "Content-Type": type }, body: bytes };
}

/** Sends one input; classifies the answer. A streaming 2xx (server-sent events) is cut after its headers. */
export async function sendHttp(url: string, input: HttpInput, hangMs: number): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(`${url}${input.path}`, { method: input.method, headers: input.headers, body: input.method === "GET" || input.method === "HEAD" ? undefined : input.body, signal: AbortSignal.timeout(hangMs) });
  } catch (error) {
    const name = (error as Error).name;
    if (name === "TimeoutError" || name === "AbortError") return "hang";
    // The transport refusing what it cannot carry (headers too large, invalid header values) is documented.
    return "transport-refused";
  }
  return classify(res, input.path, hangMs);
}

export async function classify(res: Response, path: string, hangMs: number): Promise<Outcome> {
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    await res.body?.cancel().catch(() => {});
    return res.ok ? "ok" : "undocumented";
  }
  let text: string;
  try {
    text = await Promise.race([res.text(), Bun.sleep(hangMs).then(() => Promise.reject(new Error("hang")))]);
  } catch {
    return "hang";
  }
  if (res.status >= 200 && res.status < 300) return "ok";
  if (res.status === 426 && path.startsWith("/v1/kiosk/ws")) return "ok";
  let code: unknown;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown } | string; error_code?: unknown; status?: unknown };
    // Health routes answer 503 with their own body when the service is not healthy (documented).
    if (res.status === 503 && /\/health$/.test(path.split("?")[0] ?? "") && body.status === "unhealthy") return "error:unhealthy";
    // The compatibility routes (/api/v1/*) answer {"error": "...", "error_code": CODE}.
    code = typeof body.error === "object" ? body.error?.code : body.error_code;
  } catch {
    return `undocumented:${res.status}`;
  }
  if (typeof code !== "string" || !(ERROR_CODES as readonly string[]).includes(code)) return `undocumented:${res.status}`;
  if (code === "INTERNAL") return "internal";
  if (HTTP_STATUS[code as ErrorCode] !== res.status) return `undocumented:${res.status}-${code}`;
  return `error:${code}`;
}

/** Broken HTTP on the socket: what a fetch client cannot send. */
export function rawHttpInput(rng: Rng, ctx: HttpContext): { label: string; payload: Uint8Array } {
  const enc = new TextEncoder();
  const key = `X-API-Key: ${ctx.keys.company}\r\n`;
  const cases: Array<[string, () => string | Uint8Array]> = [
    ["bad-method", () => `FOO\x01 /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    ["long-url", () => `GET /v1/${"a".repeat(rng.int(10_000, 200_000))} HTTP/1.1\r\nHost: localhost\r\n\r\n`],
    ["no-version", () => "GET /v1/health\r\n\r\n"],
    ["http09", () => "GET /\r\n"],
    ["bad-header", () => `GET /v1/health HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n`],
    ["nul-header", () => `GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-A: a\u0000b\r\n\r\n`],
    ["cl-te", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ["bad-chunk", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ["huge-chunk", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n`],
    ["negative-cl", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`],
    ["letters-cl", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: 1e3\r\n\r\n{}`],
    ["two-cl", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}`],
    ["short-body", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"image":"`],
    ["huge-declared-cl", () => `POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n${key}Content-Type: application/json\r\nContent-Length: 99999999999999\r\n\r\n{}`],
    ["h2-preface", () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
    ["random", () => rng.bytes(rng.int(1, 2000))],
    ["pipelined", () => `GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n`.repeat(rng.int(2, 50))],
    ["huge-header", () => `GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"b".repeat(rng.int(20_000, 300_000))}\r\n\r\n`],
  ];
  const [label, make] = rng.pick(cases);
  const p = make();
  return { label, payload: typeof p === "string" ? enc.encode(p) : p };
}

/** Sends raw bytes; ok: a status line other than 500 (transport or app), the server closing, or (for incomplete requests) silence. */
export async function sendRaw(url: string, payload: Uint8Array, waitMs: number): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  let received = "";
  let closed = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  try {
    const socket = await Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        data(_s, d) {
          received += new TextDecoder().decode(d);
        },
        close() {
          closed = true;
          done();
        },
        error() {
          closed = true;
          done();
        },
      },
    });
    socket.write(payload);
    const timer = setTimeout(() => {
      socket.end();
      done();
    }, waitMs);
    await finished;
    clearTimeout(timer);
  } catch {
    return "crash:connect";
  }
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  // Bun's parser answers malformed requests itself (400, 413, 414, 431, 501, 505); a 500 would be ours.
  if (statuses.includes(500)) return "internal:500";
  if (statuses.length > 0) return `status:${statuses[0]}`;
  return closed ? "closed" : "no-answer";
}
