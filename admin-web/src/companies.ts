/** Companies (admin key): list with user and face counts, create, delete after a confirmation naming what goes. */
import { ApiError, describeError, type Api } from "./api.ts";
import type { View } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { CompaniesPage, CompanyCreated, Deleted, Stats, type CompanySummary } from "./schemas.ts";

/** Every company with its counts: GET /v1/companies page by page; /v1/stats on servers without it. */
export async function listCompanies(api: Api, signal?: AbortSignal): Promise<{ companies: CompanySummary[]; viaStats: boolean }> {
  const out: CompanySummary[] = [];
  let cursor: string | undefined;
  try {
    do {
      const page = await api.get("/v1/companies", CompaniesPage, { query: { limit: 1000, cursor }, signal });
      out.push(...page.companies);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return { companies: out, viaStats: false };
  } catch (error) {
    if (!(error instanceof ApiError && error.missingRoute)) throw error;
    const stats = await api.get("/v1/stats", Stats, { signal });
    const companies = Object.entries(stats.companies ?? {})
      .map(([company_id, c]) => ({ company_id, users: c.users, faces: c.faces }))
      .sort((a, b) => (a.company_id < b.company_id ? -1 : 1));
    return { companies, viaStats: true };
  }
}

export const companiesView: View = async (ctx, main) => {
  const input = h("input", { id: "new-company", name: "company", required: true, maxlength: 128, placeholder: "e.g. acme", autocomplete: "off" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "inline-form", id: "create-company" },
    h("label", { for: input.id }, "New company id"),
    input,
    h("button", { type: "submit", class: "primary" }, "Create company"),
  );
  const table = h("table", { class: "list", id: "companies" });
  const note = h("p", { class: "muted small" });
  replace(main, h("h1", {}, "Companies"), form, status, note, table);

  const load = async (): Promise<void> => {
    try {
      const { companies, viaStats } = await listCompanies(ctx.api, ctx.signal);
      note.textContent = viaStats ? "This server has no GET /v1/companies yet: the list comes from /v1/stats." : `${fmt.int(companies.length)} companies.`;
      replace(
        table,
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Company"), h("th", { scope: "col", class: "num" }, "People"), h("th", { scope: "col", class: "num" }, "Faces"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h(
          "tbody",
          {},
          ...companies.map((c) =>
            h(
              "tr",
              { "data-company": c.company_id },
              h("td", {}, h("a", { href: `#/c/${seg(c.company_id)}/people` }, c.company_id)),
              h("td", { class: "num" }, fmt.int(c.users)),
              h("td", { class: "num" }, fmt.int(c.faces)),
              h("td", { class: "actions" }, h("button", { type: "button", class: "danger", "data-action": "delete", onclick: () => void remove(c) }, "Delete")),
            ),
          ),
          companies.length === 0 ? h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No companies yet.")) : null,
        ),
      );
    } catch (error) {
      status.textContent = describeError(error, "Listing companies");
      status.className = "status error";
    }
  };

  const remove = async (c: CompanySummary): Promise<void> => {
    // Fresh counts: someone may have enrolled since the list was drawn.
    const latest = (await listCompanies(ctx.api, ctx.signal).catch(() => null))?.companies.find((x) => x.company_id === c.company_id) ?? c;
    const ok = await ctx.confirm(
      `Delete company ${c.company_id}?`,
      `This removes ${fmt.int(latest.users)} ${latest.users === 1 ? "person" : "people"} and ${fmt.int(latest.faces)} ${latest.faces === 1 ? "face" : "faces"} enrolled in ${c.company_id}. It cannot be undone.`,
      `Delete ${c.company_id}`,
    );
    if (!ok) return;
    try {
      await ctx.api.call("DELETE", `/v1/companies/${seg(c.company_id)}`, Deleted);
      ctx.toast(`Company ${c.company_id} deleted (${fmt.int(latest.users)} people, ${fmt.int(latest.faces)} faces).`, "ok");
      ctx.companiesChanged();
      await load();
    } catch (error) {
      ctx.toast(describeError(error), "error");
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = input.value.trim();
    if (!id) return;
    status.className = "status";
    try {
      const r = await ctx.api.call("POST", "/v1/companies", CompanyCreated, { json: { company_id: id } });
      status.textContent = r.created ? `Company ${id} created.` : `Company ${id} already existed.`;
      input.value = "";
      ctx.companiesChanged();
      await load();
    } catch (error) {
      status.textContent = describeError(error);
      status.className = "status error";
    }
  });
  await load();
};
