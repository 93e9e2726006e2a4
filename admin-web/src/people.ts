/** The people of a company: enroll a new person, a paginated list searchable by id, with face counts. */
import { ApiError, describeError } from "./api.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { enrollPhoto } from "./enroll.ts";
import { photoPicker, type Photo } from "./photo.ts";
import { CompanyCreated, UsersPage, type UserSummary } from "./schemas.ts";

const PAGE_SIZES = [25, 50, 100];
/** A search scans the list page by page; it stops after this many matches. */
const MAX_MATCHES = 200;

export async function peopleView(ctx: ViewContext, main: HTMLElement, company: string): Promise<void> {
  const base = `/v1/companies/${seg(company)}/users`;

  // ---- enroll a new person
  const userInput = h("input", { id: "enroll-user", required: true, maxlength: 128, placeholder: "e.g. Ada Lovelace", autocomplete: "off" });
  let photo: Photo | null = null;
  const enrollButton = h("button", { type: "submit", class: "primary", id: "enroll-go", disabled: true }, "Enroll");
  const picker = photoPicker({
    idPrefix: "enroll",
    signal: ctx.signal,
    onPhoto: (p) => {
      photo = p;
      enrollButton.disabled = !p;
    },
  });
  const outcomes = h("ul", { class: "outcomes", id: "enroll-outcomes", "aria-live": "polite" });
  const enrollForm = h(
    "form",
    { class: "card enroll", id: "enroll-form", autocomplete: "off" },
    h("h2", {}, "Enroll a person"),
    h("label", { for: userInput.id }, "Person id"),
    userInput,
    picker,
    h("div", { class: "row" }, enrollButton),
    outcomes,
  );
  enrollForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const userId = userInput.value.trim();
    if (!userId || !photo) return;
    enrollButton.disabled = true;
    enrollButton.textContent = "Enrolling…";
    const result = await enrollPhoto(ctx.api, company, userId, photo, true);
    outcomes.prepend(result.card);
    enrollButton.textContent = "Enroll";
    if (result.ok) {
      userInput.value = "";
      (picker as HTMLElement & { clear(): void }).clear();
      await load();
    } else enrollButton.disabled = false;
  });

  // ---- the list
  const search = h("input", { type: "search", id: "people-search", placeholder: "Search by id", "aria-label": "search people by id", autocomplete: "off" });
  const size = h("select", { id: "page-size", "aria-label": "people per page" }, ...PAGE_SIZES.map((n) => h("option", { value: n, selected: n === 25 }, `${n} per page`)));
  const prev = h("button", { type: "button", id: "page-prev", disabled: true }, "‹ Previous");
  const next = h("button", { type: "button", id: "page-next", disabled: true }, "Next ›");
  const summary = h("p", { class: "muted small", id: "people-summary", role: "status" });
  const table = h("table", { class: "list", id: "people" });
  const status = h("p", { class: "status", role: "status" });
  const cursors: Array<string | undefined> = [undefined];

  replace(
    main,
    h("h1", {}, "People ", h("span", { class: "muted" }, `in ${company}`)),
    enrollForm,
    h(
      "section",
      { class: "card", "aria-label": "enrolled people" },
      h(
        "div",
        { class: "toolbar" },
        h("form", { role: "search", id: "people-search-form", class: "row" }, search, h("button", { type: "submit" }, "Search")),
        size,
        h("a", { href: `#/c/${seg(company)}/bulk`, id: "bulk-link" }, "Bulk enrollment (zip or folder)"),
      ),
      status,
      summary,
      table,
      h("div", { class: "row pager" }, prev, next),
    ),
  );

  const render = (users: UserSummary[]): void => {
    replace(
      table,
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Person"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, "Faces"))),
      h(
        "tbody",
        {},
        ...users.map((u) =>
          h(
            "tr",
            { "data-user": u.user_id },
            h("td", {}, h("a", { href: `#/c/${seg(company)}/people/${seg(u.user_id)}` }, u.user_id)),
            h("td", { class: "name" }, u.name ?? ""),
            h("td", { class: "num" }, fmt.int(u.faces)),
          ),
        ),
        users.length === 0 ? h("tr", {}, h("td", { colspan: 3, class: "muted" }, "Nobody here.")) : null,
      ),
    );
  };

  const showError = (error: unknown): void => {
    status.className = "status error";
    if (error instanceof ApiError && error.code === "COMPANY_NOT_FOUND") {
      replace(status, `Company ${company} does not exist yet. `, h("button", { type: "button", onclick: () => void createCompany() }, `Create ${company}`));
    } else status.textContent = describeError(error, "Listing people");
  };
  const createCompany = async (): Promise<void> => {
    try {
      await ctx.api.call("POST", "/v1/companies", CompanyCreated, { json: { company_id: company } });
      ctx.companiesChanged();
      await load();
    } catch (error) {
      showError(error);
    }
  };

  async function load(): Promise<void> {
    const query = search.value.trim();
    status.textContent = "";
    status.className = "status";
    try {
      if (query) {
        // Scan the list for ids containing the query (the API pages by id; it has no search).
        const needle = query.toLowerCase();
        const found: UserSummary[] = [];
        let cursor: string | undefined;
        let scanned = 0;
        let total = 0;
        do {
          const page = await ctx.api.get(base, UsersPage, { query: { limit: 1000, cursor }, signal: ctx.signal });
          scanned += page.users.length;
          total = page.total ?? scanned;
          for (const u of page.users) if (u.user_id.toLowerCase().includes(needle)) found.push(u);
          cursor = page.next_cursor ?? undefined;
        } while (cursor && found.length < MAX_MATCHES);
        // An exact match first, then by id.
        found.sort((a, b) => Number(b.user_id.toLowerCase() === needle) - Number(a.user_id.toLowerCase() === needle) || (a.user_id < b.user_id ? -1 : 1));
        render(found);
        summary.textContent = `${fmt.int(found.length)} ${found.length === 1 ? "match" : "matches"} for “${query}”${cursor ? ` (first ${MAX_MATCHES}; ${fmt.int(scanned)} of ${fmt.int(total)} searched)` : ""}.`;
        prev.disabled = true;
        next.disabled = true;
        return;
      }
      const limit = Number(size.value);
      const cursor = cursors[cursors.length - 1];
      const page = await ctx.api.get(base, UsersPage, { query: { limit, cursor }, signal: ctx.signal });
      render(page.users);
      const first = (cursors.length - 1) * limit;
      summary.textContent =
        page.users.length === 0 ? "" : `${fmt.int(first + 1)}–${fmt.int(first + page.users.length)}${page.total !== undefined ? ` of ${fmt.int(page.total)}` : ""} people.`;
      prev.disabled = cursors.length <= 1;
      next.disabled = !page.next_cursor;
      next.dataset.cursor = page.next_cursor ?? "";
    } catch (error) {
      if (ctx.signal.aborted) return;
      render([]);
      showError(error);
    }
  }

  next.addEventListener("click", () => {
    if (!next.dataset.cursor) return;
    cursors.push(next.dataset.cursor);
    void load();
  });
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    void load();
  });
  size.addEventListener("change", () => {
    cursors.splice(1);
    void load();
  });
  const searchForm = main.querySelector<HTMLFormElement>("#people-search-form");
  searchForm?.addEventListener("submit", (e) => {
    e.preventDefault();
    cursors.splice(1);
    void load();
  });
  search.addEventListener("search", () => {
    if (!search.value) {
      cursors.splice(1);
      void load();
    }
  });
  await load();
}
