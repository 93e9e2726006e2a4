/**
 * Live identifications: the company's event log as it grows (server-sent events), newest on top,
 * with kiosk, time and confidence; filters; CSV download.
 */
import { ApiError, describeError } from "./api.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace, seg } from "./dom.ts";
import { EventItem, EventsPage } from "./schemas.ts";
import { follow } from "./sse.ts";
import { csvCell } from "./csv.ts";

/** Rows kept on screen (older ones are in the log: CSV or the API). */
const MAX_ROWS = 500;
const CSV_COLUMNS = ["id", "at", "user_id", "confidence", "threshold", "kiosk_id", "source", "frames"] as const;

interface Filters {
  user: string;
  kiosk: string;
  minConfidence: number;
  since: string;
}

function matches(e: EventItem, f: Filters): boolean {
  if (f.user && !e.user_id.toLowerCase().includes(f.user.toLowerCase())) return false;
  if (f.kiosk && !(e.kiosk_id ?? "").toLowerCase().includes(f.kiosk.toLowerCase())) return false;
  if (e.confidence < f.minConfidence) return false;
  if (f.since && Date.parse(e.at) < Date.parse(f.since)) return false;
  return true;
}


export async function liveView(ctx: ViewContext, main: HTMLElement, company: string): Promise<void> {
  const base = `/v1/companies/${seg(company)}/events`;
  const f = {
    user: h("input", { id: "filter-user", type: "search", placeholder: "person id", autocomplete: "off" }),
    kiosk: h("input", { id: "filter-kiosk", type: "search", placeholder: "kiosk id", autocomplete: "off" }),
    min: h("input", { id: "filter-min", type: "number", min: 0, max: 1, step: 0.01, value: 0 }),
    since: h("input", { id: "filter-since", type: "datetime-local" }),
  };
  const feed = h("span", { class: "pill", id: "feed-status", "data-status": "connecting", role: "status" }, "connecting…");
  const download = h("button", { type: "button", id: "csv" }, "Download CSV");
  const tbody = h("tbody", { id: "events-body" });
  const table = h(
    "table",
    { class: "list", id: "events" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Person"), h("th", { scope: "col", class: "num" }, "Confidence"), h("th", { scope: "col" }, "Kiosk"), h("th", { scope: "col" }, "Source")),
    ),
    tbody,
  );
  const count = h("p", { class: "muted small", id: "events-count" });
  const status = h("p", { class: "status", role: "status" });
  replace(
    main,
    h("h1", {}, "Live identifications ", h("span", { class: "muted" }, `in ${company}`), " ", feed),
    h(
      "form",
      { class: "card filters", id: "filters", role: "search" },
      h("label", {}, "Person", f.user),
      h("label", {}, "Kiosk", f.kiosk),
      h("label", {}, "Min. confidence", f.min),
      h("label", {}, "Since", f.since),
      h("div", { class: "row" }, download),
    ),
    status,
    count,
    h("div", { class: "scroll" }, table),
  );

  const events: EventItem[] = []; // newest first
  const filters = (): Filters => ({ user: f.user.value.trim(), kiosk: f.kiosk.value.trim(), minConfidence: Number(f.min.value) || 0, since: f.since.value });
  const row = (e: EventItem, fresh: boolean): HTMLTableRowElement =>
    h(
      "tr",
      { "data-event": e.id, "data-user": e.user_id, class: fresh ? "fresh" : "" },
      h("td", {}, h("time", { datetime: e.at }, fmt.time(e.at))),
      h("td", {}, e.name ? `${e.name} (${e.user_id})` : e.user_id),
      h("td", { class: "num" }, fmt.score(e.confidence)),
      h("td", {}, e.kiosk_id ?? "–"),
      h("td", {}, e.source ?? ""),
    );
  const redraw = (): void => {
    const fl = filters();
    const shown = events.filter((e) => matches(e, fl));
    replace(tbody, ...shown.map((e) => row(e, false)), shown.length === 0 ? h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No identifications yet.")) : null);
    count.textContent = `${fmt.int(shown.length)} of ${fmt.int(events.length)} shown.`;
  };
  for (const input of Object.values(f)) input.addEventListener("input", redraw);
  main.querySelector("#filters")?.addEventListener("submit", (e) => e.preventDefault());

  const add = (e: EventItem): void => {
    if (events.some((x) => x.id === e.id)) return;
    events.unshift(e);
    events.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (events.length > MAX_ROWS) events.length = MAX_ROWS;
    const fl = filters();
    if (!matches(e, fl)) return void redraw();
    tbody.querySelector("td.muted")?.closest("tr")?.remove();
    const tr = row(e, true);
    const before = [...tbody.children].find((r) => ((r as HTMLElement).dataset.event ?? "") < e.id);
    tbody.insertBefore(tr, before ?? null);
    count.textContent = `${fmt.int(events.filter((x) => matches(x, fl)).length)} of ${fmt.int(events.length)} shown.`;
  };

  // The recent past, then the live feed from the newest event on (no gap, no duplicate).
  let lastId: string | undefined;
  try {
    const page = await ctx.api.get(base, EventsPage, { query: { limit: 100 }, signal: ctx.signal });
    events.push(...page.events);
    lastId = page.events[0]?.id;
    redraw();
  } catch (error) {
    if (ctx.signal.aborted) return;
    status.className = "status error";
    status.textContent = describeError(error, "The event log");
    redraw();
    if (error instanceof ApiError && error.missingRoute) {
      feed.textContent = "unavailable";
      feed.dataset.status = "error";
      return;
    }
  }

  download.addEventListener("click", async () => {
    const fl = filters();
    const query: Record<string, string> = {};
    if (fl.user && !fl.kiosk && fl.minConfidence === 0) query.user_id = fl.user; // the server filters by exact id
    if (fl.since) query.since = new Date(fl.since).toISOString();
    try {
      let text: string;
      if (fl.kiosk || fl.minConfidence > 0 || (fl.user && !query.user_id)) {
        // Filters the server does not have: page through the JSON and write the CSV here.
        const rows: EventItem[] = [];
        let cursor: string | undefined;
        do {
          const page = await ctx.api.get(base, EventsPage, { query: { ...query, limit: 1000, cursor } });
          rows.push(...page.events.filter((e) => matches(e, fl)));
          cursor = page.next_cursor ?? undefined;
        } while (cursor && rows.length < 100_000);
        text = [CSV_COLUMNS.join(","), ...rows.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(","))].join("\r\n") + "\r\n";
      } else {
        const res = await ctx.api.fetch("GET", base, { accept: "text/csv", query });
        text = await res.text();
      }
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const a = h("a", { href: url, download: `events-${company}-${new Date().toISOString().slice(0, 10)}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      download.dataset.rows = String(text.trim().split(/\r?\n/).length - 1);
    } catch (error) {
      ctx.toast(describeError(error, "CSV download"), "error");
    }
  });

  void follow(ctx.api, `${base}/stream`, {
    signal: ctx.signal,
    lastEventId: lastId,
    onMessage: (m) => {
      if (m.event !== "identified") return;
      try {
        const checked = EventItem.safeParse(JSON.parse(m.data));
        if (checked.success) add(checked.data);
      } catch {
        // a malformed message: skip it
      }
    },
    onStatus: (st) => {
      if (st === "live") {
        feed.textContent = "live";
        feed.dataset.status = "live";
      } else if (st === "connecting") {
        feed.textContent = "connecting…";
        feed.dataset.status = "connecting";
      } else {
        feed.textContent = `reconnecting in ${Math.round(st.retryMs / 1000)} s`;
        feed.dataset.status = "error";
        feed.title = describeError(st.error, "The live feed");
      }
    },
  });
}
