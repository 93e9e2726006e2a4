/**
 * /openapi.json has an example request (where the operation has a body) and an example answer for
 * every operation, and each validates against the route's own zod schemas; /docs renders them.
 */
import { enrollBatchRoutes } from "../../../server/http/enroll-batch.ts";
import { describe, expect, test } from "bun:test";
import type { FaceApi } from "../../../lib/core/mod.ts";
import { createApp } from "../../../server/http/app.ts";
import { compatRoutes } from "../../../server/http/compat/routes.ts";
import { DEFAULT_SERVER_CONFIG } from "../../../server/config/server.ts";
import { integrationRoutes } from "../../../server/http/integration-routes.ts";
import { DOCS_HTML } from "../../../server/http/openapi.ts";
import { OPERATION_EXAMPLES } from "../../../server/http/openapi-examples.ts";
import { buildRoutes } from "../../../server/http/routes.ts";

type Media = { schema?: unknown; example?: unknown };
type Operation = { operationId: string; requestBody?: { content: Record<string, Media> }; responses: Record<string, { content?: Record<string, Media> }> };

// the document only: no FaceApi call is made
const app = createApp({ api: {} as FaceApi, integration: undefined });
const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, Record<string, Operation>> };
const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
const routes = new Map([...buildRoutes(DEFAULT_SERVER_CONFIG), ...enrollBatchRoutes(), ...integrationRoutes(undefined), ...compatRoutes()].map((r) => [r.operationId, r]));

describe("OpenAPI examples", () => {
  test("the document lists the routes of the table, integration and compatibility routes", () => {
    expect(operations.length).toBeGreaterThanOrEqual(routes.size);
    for (const id of routes.keys()) expect(operations.map((o) => o.op.operationId)).toContain(id);
  });

  test("every operation has an example answer, and a request example where it takes a body", () => {
    const missing: string[] = [];
    for (const { path, method, op } of operations) {
      const ok = Object.entries(op.responses).find(([status]) => status.startsWith("2"))?.[1];
      if (Object.values(ok?.content ?? {})[0]?.example === undefined) missing.push(`${method.toUpperCase()} ${path}: answer`);
      if (op.requestBody && op.requestBody.content["application/json"]?.example === undefined) missing.push(`${method.toUpperCase()} ${path}: request`);
    }
    expect(missing).toEqual([]);
  });

  test("each example validates against the route's own zod schemas", () => {
    const invalid: Array<{ id: string; part: string; issues: unknown }> = [];
    for (const [id, route] of routes) {
      const example = OPERATION_EXAMPLES[id];
      expect({ id, has: example !== undefined }).toEqual({ id, has: true });
      if (route.body) {
        const parsed = route.body.schema.safeParse(example.request);
        if (!parsed.success) invalid.push({ id, part: "request", issues: parsed.error.issues });
      } else {
        expect({ id, request: example.request }).toEqual({ id, request: undefined });
      }
      const answer = route.ok.schema.safeParse(example.response);
      if (!answer.success) invalid.push({ id, part: "response", issues: answer.error.issues });
    }
    expect(invalid).toEqual([]);
    // no example for an operation that does not exist (a renamed operationId)
    expect(Object.keys(OPERATION_EXAMPLES).filter((id) => !routes.has(id))).toEqual([]);
  });

  test("a wrong example is caught: a missing required field fails its schema", () => {
    const route = routes.get("create_user")!;
    const { user_id: _, ...noUser } = OPERATION_EXAMPLES.create_user.request as Record<string, unknown>;
    expect(route.body!.schema.safeParse(noUser).success).toBe(false);
    const { faces_found: __, ...rest } = OPERATION_EXAMPLES.create_user.response as Record<string, unknown>;
    expect(route.ok.schema.safeParse({ ...rest, bbox: "x" }).success).toBe(false);
  });

  test("/docs shows the examples (request and answer), the schema folded under them", async () => {
    const page = await (await app.request("/docs")).text();
    expect(page).toBe(DOCS_HTML);
    expect(page).toContain("<h4>Example request</h4>");
    expect(page).toContain("Example answer ");
    expect(page).toContain("c.example");
    expect(page).toContain("media.example");
  });
});
