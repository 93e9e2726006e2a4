/**
 * Listing what is enrolled: companies (admin) and the users of a company, with counts, paginated
 * by id (a cursor names the last id of the previous page, so pages stay stable under writes).
 */
import { z } from "zod";
import { CompanyIdSchema, UserIdSchema } from "./schemas.ts";

const Limit = z.number().int().min(1).max(1000);
const Cursor = z.string().min(1).max(512);

export const ListCompaniesRequestSchema = z.object({ cursor: Cursor.optional(), limit: Limit.optional() });
export type ListCompaniesRequest = z.infer<typeof ListCompaniesRequestSchema>;

export const CompanySummarySchema = z.object({
  companyId: CompanyIdSchema,
  users: z.number().int().nonnegative(),
  faces: z.number().int().nonnegative(),
});
export const ListCompaniesResultSchema = z.object({
  companies: z.array(CompanySummarySchema),
  total: z.number().int().nonnegative(),
  nextCursor: z.string().nullable(),
});
export type ListCompaniesResult = z.infer<typeof ListCompaniesResultSchema>;

export const ListUsersRequestSchema = z.object({ companyId: CompanyIdSchema, cursor: Cursor.optional(), limit: Limit.optional() });
export type ListUsersRequest = z.infer<typeof ListUsersRequestSchema>;

export const UserSummarySchema = z.object({
  userId: UserIdSchema,
  /** The display name, when the user has one. */
  name: z.string().optional(),
  faces: z.number().int().nonnegative(),
});
export const ListUsersResultSchema = z.object({
  companyId: CompanyIdSchema,
  users: z.array(UserSummarySchema),
  total: z.number().int().nonnegative(),
  nextCursor: z.string().nullable(),
});
export type ListUsersResult = z.infer<typeof ListUsersResultSchema>;

export const DEFAULT_LIST_LIMIT = 100;

/** One page of `ids` (sorted here, by code unit) after the cursor's id. */
export function pageOf(ids: string[], cursorAfter: string | undefined, limit: number): { page: string[]; last: string | null } {
  ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let start = 0;
  if (cursorAfter !== undefined) {
    // first id strictly after the cursor (binary search)
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid] <= cursorAfter) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const page = ids.slice(start, start + limit);
  const more = start + limit < ids.length;
  return { page, last: more && page.length > 0 ? page[page.length - 1] : null };
}
