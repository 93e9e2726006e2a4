/**
 * OpenAPI 3.1 document generated from the route table and its zod schemas (zod 4's
 * `z.toJSONSchema`). @hono/zod-openapi would do the same with another dependency and its own
 * route style; the table already holds everything the document needs.
 */
import { z } from "zod";
import { HTTP_STATUS, type ErrorCode } from "../../lib/core/mod.ts";
import type { AnyRoute } from "./routes.ts";
import { METRICS_EXAMPLE, OPERATION_EXAMPLES } from "./openapi-examples.ts";
import { ErrorBody, WireImageSchema } from "./wire.ts";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output", binaryImages = false): JsonSchema {
  const out = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
    override(ctx) {
      if (ctx.zodSchema === WireImageSchema) {
        const js = ctx.jsonSchema as Record<string, unknown>;
        for (const key of Object.keys(js)) delete js[key];
        Object.assign(
          js,
          binaryImages
            ? { type: "string", format: "binary", description: "image file (JPEG, PNG or WebP)" }
            : {
                type: "string",
                contentEncoding: "base64",
                description: "JPEG, PNG or WebP as base64; a data:image/...;base64, prefix is accepted",
              },
        );
      }
    },
  }) as JsonSchema;
  delete out.$schema;
  return out;
}

const COMMON_ERRORS: ErrorCode[] = ["INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "INTERNAL", "TIMEOUT", "UNAVAILABLE"];

export function buildOpenApi(routes: AnyRoute[], info: { version: string; open: boolean }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const params = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string", minLength: 1, maxLength: 128 },
    }));
    const errors = new Set<ErrorCode>([...COMMON_ERRORS, ...r.errors]);
    if (r.scope !== "public") errors.add("UNAUTHORIZED").add("RATE_LIMITED");
    if (r.scope !== "public" && r.scope !== "any") errors.add("FORBIDDEN");
    if (r.body && r.scope !== "public") errors.add("UNAVAILABLE");
    const responses: Record<string, unknown> = {
      [String(r.ok.status)]: {
        description: r.ok.description,
        content: {
          ...(r.produces?.includes("text/event-stream") ? {} : { "application/json": { schema: jsonSchema(r.ok.schema, "input") } }),
          ...Object.fromEntries((r.produces ?? []).map((type) => [type, { schema: { type: "string" } }])),
        },
      },
    };
    const byStatus = new Map<number, ErrorCode[]>();
    for (const code of errors) byStatus.set(HTTP_STATUS[code], [...(byStatus.get(HTTP_STATUS[code]) ?? []), code]);
    for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
      responses[String(status)] = {
        description: codes.join(", "),
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    if (r.engine) {
      // Admission control (MAX_INFLIGHT / MAX_QUEUE): busy → 503 with Retry-After.
      responses["503"] = {
        description: "UNAVAILABLE (also when the server is busy: MAX_INFLIGHT running and MAX_QUEUE waiting), TIMEOUT (also after waiting in the queue; the work was not started)",
        headers: { "Retry-After": { schema: { type: "integer", minimum: 1 }, description: "seconds, when the server is busy" } },
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [
        ...params,
        ...queryParams(r),
        ...(r.method === "GET"
          ? []
          : [{ name: "X-Min-Revision", in: "header", required: false, schema: { type: "integer", minimum: 0 }, description: "wait until this store revision is applied (read your writes)" }]),
      ],
      responses,
      security: r.scope === "public" ? [] : [{ ApiKey: [] }, { Bearer: [] }],
      "x-scope": r.scope,
      ...(r.engine ? { "x-admission": "engine" } : {}),
    };
    if (r.body) {
      const content: Record<string, unknown> = {};
      if (r.body.kinds.includes("json")) content["application/json"] = { schema: jsonSchema(r.body.schema, "input") };
      if (r.body.kinds.includes("multipart")) content["multipart/form-data"] = { schema: jsonSchema(r.body.schema, "input", true) };
      if (r.body.kinds.includes("raw")) {
        content["image/*"] = { schema: { type: "string", format: "binary" } };
        const fields = (jsonSchema(r.body.schema, "input").properties ?? {}) as Record<string, JsonSchema>;
        for (const [name, schema] of Object.entries(fields)) {
          if (name === r.body.rawImageField) continue;
          (op.parameters as unknown[]).push({
            name,
            in: "query",
            required: false,
            schema,
            description: "with a raw image/* body only (JSON and multipart carry it in the body)",
          });
        }
      }
      op.requestBody = { required: true, content };
    }
    addExamples(op, r.operationId, r.ok.status);
    paths[path] = { ...paths[path], [r.method.toLowerCase()]: op };
  }

  paths["/metrics"] = {
    get: {
      operationId: "metrics",
      "x-scope": "metrics",
      summary: "Prometheus metrics (a metrics-scope or admin key, as X-API-Key or Authorization: Bearer): requests and latency by route and status, operation timings, gallery sizes, process (memory, CPU, event-loop lag, heap)",
      tags: ["operations"],
      security: [{ Bearer: [] }, { ApiKey: [] }],
      responses: {
        "200": { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: { type: "string" }, example: METRICS_EXAMPLE } } },
      },
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "facegate",
      version: info.version,
      description:
        "Face recognition for kiosks. JSON fields are snake_case. Images: base64 in JSON (data-URL accepted), a file part in multipart/form-data, or a raw image/* body with the other fields as query parameters. Errors: {\"error\": {\"code\", \"message\"}}." +
        (info.open ? " This server runs in OPEN mode: no API key is required." : ""),
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorBody, "output") },
      securitySchemes: {
        ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        // the same keys; what Prometheus (authorization: credentials) and most HTTP tools send
        Bearer: { type: "http", scheme: "bearer" },
      },
    },
    tags: [
      { name: "companies" },
      { name: "users" },
      { name: "faces" },
      { name: "recognition" },
      { name: "stateless", description: "no gallery: any valid key" },
      { name: "events", description: "the event log (identifications), attendance, live feed" },
      { name: "webhooks", description: "signed, at-least-once delivery of every event to the company's URL" },
      { name: "compatibility", description: "the stateless embed/compare service's routes (/api/v1): errors {error, error_code}" },
      { name: "operations" },
    ],
  };
}

/**
 * The operation's example (server/openapi-examples.ts) on its JSON request body and on the first
 * media type of its 2xx answer (JSON, or text for streams).
 */
function addExamples(op: Record<string, unknown>, operationId: string, okStatus: number): void {
  const example = OPERATION_EXAMPLES[operationId];
  if (!example) return;
  const body = op.requestBody as { content: Record<string, Record<string, unknown>> } | undefined;
  const json = body?.content["application/json"];
  if (json && example.request !== undefined) json.example = example.request;
  const ok = (op.responses as Record<string, { content?: Record<string, Record<string, unknown>> }>)[String(okStatus)];
  const first = ok?.content && Object.values(ok.content)[0];
  if (first) first.example = example.response;
}

/** The route's query parameters, from its zod object (optional unless the schema requires them). */
function queryParams(r: AnyRoute): JsonSchema[] {
  if (!r.query) return [];
  const js = jsonSchema(r.query, "input");
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries((js.properties ?? {}) as Record<string, JsonSchema>).map(([name, schema]) => ({
    name,
    in: "query",
    required: required.has(name),
    schema,
    ...(typeof schema.description === "string" ? { description: schema.description } : {}),
  }));
}

/** A self-contained docs page (no CDN: the machine may be offline) that renders /openapi.json. */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facegate API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem 1.5rem;color:#1d1d1f}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;text-transform:capitalize}
details{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.4rem .7rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.6rem;overflow:auto;border-radius:4px}
.m{display:inline-block;min-width:4.2rem;font-weight:700}.GET{color:#0a7}.POST{color:#06c}.PUT{color:#a60}.DELETE{color:#c33}
.scope{float:right;color:#777;font-size:12px}
pre.example{background:#eef6ee}details.schema{border:0;padding:0;margin:0}
</style></head><body>
<h1>facegate API</h1><p id="desc">Loading <a href="openapi.json">openapi.json</a>…</p><div id="out"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
// examples open, the JSON Schema folded away under them
const example = (v) => "<pre class='example'>" + esc(typeof v === "string" ? v : JSON.stringify(v, null, 2)) + "</pre>";
const schemaBlock = (s) => "<details class='schema'><summary>schema</summary><pre>" + esc(JSON.stringify(s, null, 2)) + "</pre></details>";
fetch("openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("desc").innerHTML = esc(doc.info.description) + ' Raw document: <a href="openapi.json">openapi.json</a>.';
  const groups = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    (groups[op.tags?.[0] ?? "other"] ??= []).push({ path, method: method.toUpperCase(), op });
  }
  let html = "";
  for (const [tag, list] of Object.entries(groups)) {
    html += "<h2>" + esc(tag) + "</h2>";
    for (const { path, method, op } of list) {
      html += "<details><summary><span class='m " + method + "'>" + method + "</span><code>" + esc(path) + "</code> — " + esc(op.summary ?? "") +
        "<span class='scope'>" + esc(op["x-scope"] ?? "") + "</span></summary>";
      if (op.parameters?.length) html += "<h4>Parameters</h4><pre>" + esc(op.parameters.map((p) => p.in + " " + p.name + (p.required ? " (required)" : "")).join("\\n")) + "</pre>";
      if (op.requestBody) {
        for (const c of Object.values(op.requestBody.content)) if (c.example !== undefined) html += "<h4>Example request</h4>" + example(c.example);
        for (const [type, c] of Object.entries(op.requestBody.content)) html += "<h4>Request " + esc(type) + "</h4>" + schemaBlock(c.schema);
      }
      for (const [status, r] of Object.entries(op.responses)) {
        const media = r.content && Object.values(r.content)[0];
        if (media && media.example !== undefined) html += "<h4>Example answer " + esc(status) + "</h4>" + example(media.example);
        html += "<h4>" + esc(status) + " " + esc(r.description) + "</h4>" + (media && media.schema && !media.schema.$ref ? schemaBlock(media.schema) : "");
      }
      html += "</details>";
    }
  }
  html += "<h2>Errors</h2><pre>" + esc(JSON.stringify(doc.components.schemas.Error, null, 2)) + "</pre>";
  document.getElementById("out").innerHTML = html;
}).catch((e) => { document.getElementById("desc").textContent = "could not load openapi.json: " + e; });
</script></body></html>
`;
