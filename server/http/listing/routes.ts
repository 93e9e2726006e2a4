/** GET /v1/companies (admin) and GET /v1/companies/:company/users: what is enrolled, with counts. */
import type { z } from "zod";
import type { ListCompaniesResult, ListUsersResult } from "../../../lib/core/mod.ts";
import type { Scope } from "../auth.ts";
import { parseQuery } from "../events/routes.ts";
import { CompaniesPageBody, ListQuery, UsersPageBody } from "../events/wire.ts";
import type { AnyRoute, RouteDef } from "../routes.ts";

export const LIST_USERS_SCOPE: Scope = "enroll";

function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

export const listingToWire = {
  companies: (r: ListCompaniesResult): z.input<typeof CompaniesPageBody> => ({
    companies: r.companies.map((c) => ({ company_id: c.companyId, users: c.users, faces: c.faces })),
    total: r.total,
    next_cursor: r.nextCursor,
  }),
  users: (r: ListUsersResult): z.input<typeof UsersPageBody> => ({
    company_id: r.companyId,
    users: r.users.map((u) => ({ user_id: u.userId, ...(u.name !== undefined ? { name: u.name } : {}), faces: u.faces })),
    total: r.total,
    next_cursor: r.nextCursor,
  }),
};

export function listingRoutes(): AnyRoute[] {
  return [
    route({
      method: "GET",
      path: "/v1/companies",
      operationId: "list_companies",
      summary: "Companies by id with their user and face counts (?limit=1..1000, default 100; ?cursor= from next_cursor); admin key",
      tag: "companies",
      scope: "admin",
      query: ListQuery,
      ok: { status: 200, schema: CompaniesPageBody, description: "a page of companies" },
      errors: [],
      async run({ api, query, opts }) {
        const q = parseQuery(ListQuery, query);
        return { body: listingToWire.companies(await api.listCompanies({ cursor: q.cursor, limit: q.limit }, opts)) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/users",
      operationId: "list_users",
      summary: "The company's users by id with their face counts (?limit=1..1000, default 100; ?cursor= from next_cursor)",
      tag: "users",
      scope: LIST_USERS_SCOPE,
      query: ListQuery,
      ok: { status: 200, schema: UsersPageBody, description: "a page of users" },
      errors: ["COMPANY_NOT_FOUND"],
      async run({ api, params, query, opts }) {
        const q = parseQuery(ListQuery, query);
        return { body: listingToWire.users(await api.listUsers({ companyId: params.company, cursor: q.cursor, limit: q.limit }, opts)) };
      },
    }),
  ];
}
