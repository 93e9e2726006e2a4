/**
 * The admin console at /admin: sign in with a key (kept in sessionStorage: this tab only; on a
 * server in open mode, which has no keys, without one and with a banner saying so), then
 * companies, people, live identifications, operating point and system, routed by the URL hash:
 *
 *   #/companies   #/c/<company>/people   #/c/<company>/people/<user>   #/c/<company>/bulk   #/c/<company>/live
 *   #/c/<company>/operating-point   #/system
 */
import { Api, ApiError, describeError, KEY_REFUSED } from "./api.ts";
import { companiesView, listCompanies } from "./companies.ts";
import type { ViewContext } from "./context.ts";
import { byId, h, replace, seg } from "./dom.ts";
import { liveView } from "./live.ts";
import { operatingView } from "./operating.ts";
import { peopleView } from "./people.ts";
import { bulkView } from "./bulk.ts";
import { personView } from "./person.ts";
import { Stats, WhoAmI } from "./schemas.ts";
import { systemView } from "./system.ts";

const KEY_ITEM = "facegate.admin.key";
const COMPANY_ITEM = "facegate.admin.company";

const main = byId("main");
const nav = byId("nav");
const who = byId("who");
const signOutButton = byId<HTMLButtonElement>("sign-out");
const picker = byId<HTMLSelectElement>("company-pick");
const pickerWrap = byId("company-pick-wrap");
const toastBox = byId("toast");
const dialog = byId<HTMLDialogElement>("confirm");

let session: { api: Api; me: WhoAmI } | null = null;
let viewAbort = new AbortController();

function toast(message: string, kind: "ok" | "error" = "ok"): void {
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  toastBox.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 10_000 : 5_000);
}

function confirmDialog(title: string, body: string, action: string): Promise<boolean> {
  replace(byId("confirm-title"), title);
  replace(byId("confirm-body"), body);
  replace(byId("confirm-go"), action);
  dialog.returnValue = "";
  dialog.showModal();
  byId("confirm-cancel").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "go"), { once: true }));
}
byId("confirm-cancel").addEventListener("click", () => dialog.close("cancel"));

function currentCompany(): string | null {
  const m = /^#\/c\/([^/]+)/.exec(location.hash);
  if (m) return decodeURIComponent(m[1]);
  return sessionStorage.getItem(COMPANY_ITEM);
}

async function refreshCompanies(): Promise<void> {
  if (!session) return;
  let ids: string[] = session.me.companies;
  if (session.me.admin) {
    try {
      ids = (await listCompanies(session.api)).companies.map((c) => c.company_id);
    } catch {
      ids = [];
    }
  }
  const current = currentCompany();
  if (current && !ids.includes(current)) ids = [current, ...ids];
  replace(picker, h("option", { value: "", disabled: true, selected: !current }, "choose…"), ...ids.map((id) => h("option", { value: id, selected: id === current }, id)));
}

function renderNav(company: string | null): void {
  const me = session?.me;
  const link = (hash: string, label: string, key: string) => {
    const active = location.hash === hash || (hash !== "#/companies" && location.hash.startsWith(hash) && hash.length > 3);
    return h("a", { href: hash, "aria-current": active ? "page" : null, "aria-keyshortcuts": key, title: `${label} (${key})` }, label);
  };
  const c = company ? `#/c/${seg(company)}` : null;
  replace(
    nav,
    me?.admin ? link("#/companies", "Companies", "1") : null,
    c ? link(`${c}/people`, "People", "2") : null,
    c ? link(`${c}/live`, "Live", "3") : null,
    c ? link(`${c}/operating-point`, "Operating point", "4") : null,
    link("#/system", "System", "5"),
  );
}

async function route(): Promise<void> {
  viewAbort.abort();
  viewAbort = new AbortController();
  if (!session) return showSignIn();
  const ctx: ViewContext = {
    api: session.api,
    me: session.me,
    signal: viewAbort.signal,
    navigate: (hash) => {
      if (location.hash === hash) void route();
      else location.hash = hash;
    },
    toast,
    confirm: confirmDialog,
    companiesChanged: () => void refreshCompanies(),
  };
  const hash = location.hash || "";
  const m = /^#\/c\/([^/]+)\/(people|live|operating-point|bulk)(?:\/(.+))?$/.exec(hash);
  const company = m ? decodeURIComponent(m[1]) : currentCompany();
  if (m) sessionStorage.setItem(COMPANY_ITEM, company ?? "");
  if (company && picker.value !== company) await refreshCompanies();
  renderNav(company);
  try {
    if (m && company && m[2] === "people" && m[3]) await personView(ctx, main, company, decodeURIComponent(m[3]));
    else if (m && m[2] === "people") await peopleView(ctx, main, company ?? "");
    else if (m && m[2] === "live") await liveView(ctx, main, company ?? "");
    else if (m && m[2] === "bulk") await bulkView(ctx, main, company ?? "");
    else if (m && m[2] === "operating-point") await operatingView(ctx, main, company ?? "");
    else if (hash === "#/system") await systemView(ctx, main);
    else if (hash === "#/companies" && session.me.admin) await companiesView(ctx, main);
    else {
      // Home: companies for an admin, the key's (first) company otherwise.
      const target = session.me.admin ? "#/companies" : company || session.me.companies[0] ? `#/c/${seg(company || session.me.companies[0])}/people` : "#/system";
      location.replace(target);
      return;
    }
  } catch (error) {
    if (!ctx.signal.aborted) replace(main, h("p", { class: "status error" }, describeError(error)));
  }
  if (document.activeElement === document.body || !document.activeElement) main.focus({ preventScroll: true });
}

const MANAGE = new Set(["manage", "admin"]);

/**
 * What the key reaches: GET /v1/me. The console is for keys that may manage a company: a kiosk's
 * key (recognize) or an enrollment key is refused here, and a company key keeps only the companies
 * it manages. On a server without /v1/me, /v1/stats tells an admin key apart.
 */
async function whoAmI(api: Api, companyHint: string): Promise<WhoAmI> {
  let me: WhoAmI | undefined;
  try {
    me = await api.get("/v1/me", WhoAmI);
  } catch (error) {
    if (!(error instanceof ApiError && error.missingRoute)) throw error;
  }
  if (me) {
    if (me.admin || !me.scopes) return me;
    const managed = Object.entries(me.scopes).filter(([, scope]) => MANAGE.has(scope)).map(([company]) => company);
    // A manage grant on every company ("*") cannot list them: the company id comes from the form.
    const companies = managed.includes("*") ? (companyHint ? [companyHint] : []) : managed.sort();
    if (companies.length === 0) {
      const held = [...new Set(Object.values(me.scopes))].join(", ") || "no scope";
      throw new ApiError(403, "FORBIDDEN", managed.includes("*") ? "this key manages every company but cannot list them: enter the company id as well" : `this key may only ${held}: the console needs a key with manage scope (or an admin key)`);
    }
    return { ...me, companies };
  }
  try {
    await api.get("/v1/stats", Stats);
    return { key_id: "key", admin: true, companies: [] };
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "FORBIDDEN")) throw error;
    if (!companyHint) throw new ApiError(400, "COMPANY_NEEDED", "this server cannot tell a company key's company: enter the company id as well");
    return { key_id: "key", admin: false, companies: [companyHint] };
  }
}

function showSignIn(message = ""): void {
  session = null;
  document.body.dataset.signedIn = "false";
  replace(nav);
  replace(who);
  signOutButton.hidden = true;
  pickerWrap.hidden = true;
  const key = h("input", { id: "key", name: "key", type: "password", required: true, maxlength: 512, autocomplete: "current-password" });
  const company = h("input", { id: "key-company", name: "company", maxlength: 128, autocomplete: "off", placeholder: "only for older servers" });
  const status = h("p", { class: "status error", role: "alert", id: "signin-status" }, message);
  const form = h(
    "form",
    { class: "card signin", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "With an admin key, or a company key that may manage its company. The key stays in this browser tab only."),
    h("label", { for: key.id }, "API key"),
    key,
    h("details", {}, h("summary", {}, "Company (optional)"), h("label", { for: company.id }, "Company id"), company),
    status,
    h("button", { type: "submit", class: "primary", id: "signin-go" }, "Sign in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.textContent = "";
    const api = new Api(key.value.trim());
    try {
      const me = await whoAmI(api, company.value.trim());
      sessionStorage.setItem(KEY_ITEM, api.key);
      if (!me.admin && me.companies.length > 0) sessionStorage.setItem(COMPANY_ITEM, me.companies[0]);
      await start(api, me);
    } catch (error) {
      status.textContent =
        error instanceof ApiError && error.code === "UNAUTHORIZED"
          ? "This key was not accepted."
          : error instanceof ApiError && error.code === "FORBIDDEN"
            ? `This key cannot sign in here: ${error.message}.`
            : describeError(error);
    }
  });
  replace(main, form);
  key.focus();
}

async function start(api: Api, me: WhoAmI): Promise<void> {
  session = { api, me };
  const open = me.auth_mode === "open";
  document.body.dataset.signedIn = "true";
  document.body.dataset.role = me.admin ? "admin" : "company";
  document.body.dataset.authMode = open ? "open" : "keys";
  replace(who, open ? "open mode · no key" : me.admin ? "admin key" : `company key · ${me.companies.join(", ")}`);
  who.title = open ? "the server has no API keys" : `key ${me.key_id}`;
  byId("open-mode").hidden = !open;
  // Nothing to sign out of: without keys every caller is admin.
  signOutButton.hidden = open;
  pickerWrap.hidden = false;
  await refreshCompanies();
  await route();
}

function signOut(): void {
  viewAbort.abort();
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(COMPANY_ITEM);
  history.replaceState(null, "", location.pathname);
  showSignIn();
}

signOutButton.addEventListener("click", signOut);
window.addEventListener(KEY_REFUSED, () => {
  if (!session) return;
  signOut();
  replace(byId("signin-status"), "The server no longer accepts this key (revoked or changed): sign in again.");
});
picker.addEventListener("change", () => {
  if (!picker.value) return;
  sessionStorage.setItem(COMPANY_ITEM, picker.value);
  const section = /^#\/c\/[^/]+\/(people|live|operating-point)/.exec(location.hash)?.[1] ?? "people";
  location.hash = `#/c/${seg(picker.value)}/${section}`;
});
window.addEventListener("hashchange", () => void route());
// Digits 1-5 switch sections (not while typing).
document.addEventListener("keydown", (e) => {
  if (!session || e.altKey || e.ctrlKey || e.metaKey || dialog.open) return;
  const target = e.target as HTMLElement;
  if (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable) return;
  const link = nav.querySelector<HTMLAnchorElement>(`a[aria-keyshortcuts="${e.key}"]`);
  if (link) {
    e.preventDefault();
    link.click();
  }
});

/**
 * Open mode: GET /v1/me without a key answers only on a server without keys (401 otherwise). Such a
 * server has no key to ask for, so the console signs in at once and says why.
 */
async function openModeSession(): Promise<WhoAmI | undefined> {
  try {
    const me = await new Api("").get("/v1/me", WhoAmI);
    return me.auth_mode === "open" ? me : undefined;
  } catch {
    return undefined; // keys required (401), or an older server
  }
}

const saved = sessionStorage.getItem(KEY_ITEM);
const openMe = await openModeSession();
if (openMe) await start(new Api(""), openMe);
else if (saved) {
  const api = new Api(saved);
  whoAmI(api, sessionStorage.getItem(COMPANY_ITEM) ?? "")
    .then((me) => start(api, me))
    .catch((error: unknown) => {
      sessionStorage.removeItem(KEY_ITEM);
      showSignIn(error instanceof ApiError && error.code === "UNAUTHORIZED" ? "The saved key is no longer accepted: sign in again." : describeError(error));
    });
} else showSignIn();
